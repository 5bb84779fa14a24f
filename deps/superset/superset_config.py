"""Apache Superset's configuration for the platform (`SUPERSET_CONFIG_PATH` points here).

The same file serves the embedded default (`credit-platform up` starts Superset from its own
virtualenv) and docker-compose. Nothing secret is in it: the secret key and the metadata database's
URI come from the environment, which the platform fills from its secrets file (or a deployment
from its own secret store). The warehouse connection is not configured here: it is an asset of
`dashboards/superset/` (as `bi_reader`), imported by `up` with its password.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]  # metadata, in the platform's PostgreSQL

# Login for everything: the Public role (anonymous visitors) keeps no permission at all, no
# self-registration, no guest tokens.
PUBLIC_ROLE_LIKE = None
AUTH_USER_REGISTRATION = False
WTF_CSRF_ENABLED = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Served on plain HTTP on the loopback here; a deployment behind TLS sets SUPERSET_COOKIE_SECURE=1.
SESSION_COOKIE_SECURE = os.environ.get("SUPERSET_COOKIE_SECURE", "") == "1"
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": SESSION_COOKIE_SECURE,
}

# Dashboards read the warehouse only; SQL Lab may not write, upload files or reach other databases.
PREVENT_UNSAFE_DB_CONNECTIONS = True
ALLOW_FILE_UPLOAD = False
SQLLAB_CTAS_NO_LIMIT = False
FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
    "DASHBOARD_CROSS_FILTERS": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
}

# One process on two cores, no Redis: in-process caches and rate-limit counters.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_ENABLED = True
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = "10 per 20 second"

SUPERSET_WEBSERVER_TIMEOUT = 120
ROW_LIMIT = 50000
# Offline machines: no map tiles or fonts from the internet.
MAPBOX_API_KEY = ""
