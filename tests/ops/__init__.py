"""Operations artefacts: dashboards/*.json, dashboards/alerts.yml and their metric contract."""
