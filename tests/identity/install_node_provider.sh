#!/usr/bin/env bash
# Installs the certified Node.js OpenID provider `oidc-provider` (exact version) into
# var/oidc-node (git-ignored), for tests/identity/test_device_flow_node.py: the remote CLI's
# device authorization flow against a real provider. Run by .ci/run; needs node and npm.
# 8.x: the line whose runtime floor is Node 18 (9.x warns that Node 20 is unsupported).
set -euo pipefail
cd "$(dirname "$0")/../.."
OIDC_PROVIDER_VERSION=8.8.1
installed=var/oidc-node/node_modules/oidc-provider/package.json
if [ -f "$installed" ] && grep -q "\"version\": \"$OIDC_PROVIDER_VERSION\"" "$installed"; then
  echo "oidc-provider $OIDC_PROVIDER_VERSION already in var/oidc-node"
  exit 0
fi
mkdir -p var/oidc-node
npm install --prefix var/oidc-node --no-audit --no-fund --save-exact --omit=dev \
  "oidc-provider@$OIDC_PROVIDER_VERSION"
