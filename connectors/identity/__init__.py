"""Identity from OpenID Connect providers: discovery, keys and token checks
(``provider``), who the claims say someone is (``claims``), and the API's bearer JWTs
(``bearer``). The portal's sign-in routes are ``connectors.web.signin_oidc``."""
