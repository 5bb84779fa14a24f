"""Install what the local services need, idempotently: `credit-platform setup` (run by `make setup`).

The Python environment itself is installed by the Makefile from requirements.txt before this
runs. Here: Debian packages (PostgreSQL 15, Prometheus, Alertmanager) when missing, Java jars from Maven Central
(Kafka broker, Flink connectors, JDBC driver) into the cache dir, and FerretDB built from its Go
module. Every step is stamped, so a second run does no network work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from credit_platform.config import REPO_ROOT, Settings
from credit_platform.errors import PlatformError, run_checked
from credit_platform.platform import datadocs_assets
from credit_platform.stream.flink_config import LOOPBACK_BIND_SOURCE, build_contract_format, loopback_bind_library

MAVEN_DIR = REPO_ROOT / "deps" / "maven"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
STATSD_EXPORTER_MODULE = "github.com/prometheus/statsd_exporter"
STATSD_EXPORTER_VERSION = "v0.28.0"

# Debian packages and the file that proves each is installed.
DEBIAN_PACKAGES = {
    "postgresql-15": "/usr/lib/postgresql/15/bin/initdb",
    "prometheus": "/usr/bin/prometheus",
    "prometheus-pushgateway": "/usr/bin/prometheus-pushgateway",
    # routes the alerts (ships amtool, which checks its configuration in the unit tests)
    "prometheus-alertmanager": "/usr/bin/prometheus-alertmanager",
    # headless browser for the Airflow UI screenshots the integration tests take
    "chromium": "/usr/bin/chromium",
    "chromium-driver": "/usr/bin/chromedriver",
    # `docker-compose config` validates docker-compose.yml in the tests (no Docker engine needed)
    "docker-compose": "/usr/bin/docker-compose",
    # lets the Flink user reach the Python interpreter when it lives in a private home (e.g. pyenv's)
    "acl": "/usr/bin/setfacl",
}
TOOLS = {  # needed to build/run; not installed by us because the machine image ships them
    "java": "a Java 17 runtime (e.g. `apt-get install openjdk-17-jre-headless`)",
    "javac": "a Java 17 compiler (e.g. `apt-get install openjdk-17-jdk-headless`; builds the stream's format)",
    "mvn": "Maven (e.g. `apt-get install maven`)",
    "go": "Go 1.22+ (builds FerretDB and Prometheus' statsd_exporter from the Go module proxy)",
    "cc": "a C compiler (e.g. `apt-get install gcc`; builds the loopback-bind library for Flink)",
}

Printer = Callable[[str], None]


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check_tools(echo: Printer) -> None:
    missing = [f"{tool}: {hint}" for tool, hint in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise PlatformError("setup: required tools missing:\n  " + "\n  ".join(missing))
    echo(f"[ ok ] tools                  {', '.join(TOOLS)} found")


def ensure_debian_packages(echo: Printer) -> None:
    missing = [pkg for pkg, proof in DEBIAN_PACKAGES.items() if not Path(proof).exists()]
    if not missing:
        echo(f"[ ok ] debian packages        {', '.join(DEBIAN_PACKAGES)} present")
        return
    if os.geteuid() != 0:
        raise PlatformError(f"setup: Debian packages missing: {' '.join(missing)}. Install them with "
                           f"`sudo apt-get install -y {' '.join(missing)}` and run `make setup` again.")
    echo(f"[ .. ] debian packages        installing {' '.join(missing)} ...")
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_checked(["apt-get", "update", "-qq"], step="setup: apt-get update", env=env, timeout=600)
    run_checked(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                step=f"setup: apt-get install {' '.join(missing)}", env=env, timeout=1200)
    echo(f"[ ok ] debian packages        installed in {time.monotonic() - started:.0f}s")


def ensure_jars(settings: Settings, echo: Printer) -> None:
    """Resolve each deps/maven/<bundle>.pom.xml into <cache>/jars/<bundle>/ with its dependencies."""
    for pom in sorted(MAVEN_DIR.glob("*.pom.xml")):
        bundle = pom.name.removesuffix(".pom.xml")
        target = settings.jars_dir / bundle
        stamp = target / ".pom.sha256"
        want = _sha256(pom)
        if stamp.exists() and stamp.read_text().strip() == want:
            echo(f"[ ok ] jars/{bundle:<17} cached ({len(list(target.glob('*.jar')))} jars)")
            continue
        echo(f"[ .. ] jars/{bundle:<17} resolving from Maven Central ...")
        started = time.monotonic()
        settings.jars_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{bundle}-", dir=settings.jars_dir))
        try:
            run_checked(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
                        step=f"setup: resolve {pom.relative_to(REPO_ROOT)} with Maven", timeout=1200)
            (staging / ".pom.sha256").write_text(want + "\n")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        echo(f"[ ok ] jars/{bundle:<17} {len(list(target.glob('*.jar')))} jars in "
             f"{time.monotonic() - started:.0f}s")


def ferretdb_version(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired, PermissionError):
        return None
    for line in out.splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    return None


def _go_build(module: str, version: str, package: str, binary: Path, step: str,
              version_file: str | None = None) -> None:
    """Build one Go command of a module at an exact version (through the Go module proxy).

    `go install module@version` is not used: it asks the proxy for the module's version list
    (a deprecation check), which the proxy reachable here refuses. Downloading the exact version
    and building it does not need that list. `version_file`: where a project's release tooling
    would write its version (FerretDB reads it at build time)."""
    import json

    env = {**os.environ, "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
    out = run_checked(["go", "mod", "download", "-json", f"{module}@{version}"],
                      step=f"setup: download {step} module", env=env, timeout=600).stdout
    module_dir = Path(json.loads(out)["Dir"])
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{binary.name}-src-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(module_dir, src)
        for root, _dirs, _files in os.walk(src):  # the module cache is read-only
            os.chmod(root, 0o755)
        if version_file:
            (src / version_file).write_text(version + "\n")
        run_checked(["go", "build", "-trimpath", "-o", str(binary) + ".new", package],
                    step=f"setup: build {step}", env=env, cwd=src, timeout=1200)
    Path(str(binary) + ".new").replace(binary)


def ensure_ferretdb(settings: Settings, echo: Printer) -> None:
    """FerretDB (the local MongoDB-protocol server) from its Go module into <cache>/bin."""
    if os.environ.get("MONGO_URI") or shutil.which("mongod"):
        echo("[ ok ] ferretdb               not needed (MONGO_URI set or mongod on PATH)")
        return
    binary = settings.bin_dir / "ferretdb"
    if ferretdb_version(binary) == FERRETDB_VERSION:
        echo(f"[ ok ] ferretdb               {FERRETDB_VERSION} cached")
        return
    echo(f"[ .. ] ferretdb               building {FERRETDB_VERSION} with Go (first time: ~2 min) ...")
    started = time.monotonic()
    _go_build(FERRETDB_MODULE, FERRETDB_VERSION, "./cmd/ferretdb", binary, "FerretDB",
              version_file="build/version/version.txt")
    if ferretdb_version(binary) != FERRETDB_VERSION:
        raise PlatformError(f"setup: built {binary} but it does not report {FERRETDB_VERSION}")
    echo(f"[ ok ] ferretdb               built in {time.monotonic() - started:.0f}s")


def statsd_exporter_binary(settings: Settings) -> Path:
    return settings.bin_dir / f"statsd_exporter-{STATSD_EXPORTER_VERSION}"


def ensure_statsd_exporter(settings: Settings, echo: Printer) -> None:
    """Prometheus' statsd_exporter (Airflow's metrics → Prometheus) from its Go module."""
    binary = statsd_exporter_binary(settings)
    if binary.exists():
        echo(f"[ ok ] statsd_exporter        {STATSD_EXPORTER_VERSION} cached")
        return
    echo(f"[ .. ] statsd_exporter        building {STATSD_EXPORTER_VERSION} with Go ...")
    started = time.monotonic()
    _go_build(STATSD_EXPORTER_MODULE, STATSD_EXPORTER_VERSION, ".", binary, "statsd_exporter")
    echo(f"[ ok ] statsd_exporter        built in {time.monotonic() - started:.0f}s")


def ensure_loopback_bind(settings: Settings, echo: Printer) -> None:
    """deps/native/loopback_bind.c, LD_PRELOAD'ed into the local Flink processes (see the source)."""
    library = loopback_bind_library(settings)
    if library.exists():
        echo("[ ok ] loopback-bind          cached")
        return
    library.parent.mkdir(parents=True, exist_ok=True)
    run_checked(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(library) + ".new", str(LOOPBACK_BIND_SOURCE),
                 "-ldl"], step="setup: build loopback_bind.so", timeout=120)
    Path(str(library) + ".new").replace(library)
    echo("[ ok ] loopback-bind          built")


SUPERSET_LOCK = REPO_ROOT / "deps" / "superset" / "requirements.txt"


def ensure_superset(settings: Settings, echo: Printer) -> None:
    """Apache Superset in its own virtualenv, from deps/superset/requirements.txt (pinned, hashed by
    its stamp: a changed lock rebuilds it; the same lock does no network work)."""
    import sys

    venv = settings.superset_venv
    stamp = venv / ".lock.sha256"
    want = _sha256(SUPERSET_LOCK)
    if stamp.exists() and stamp.read_text().strip() == want and (venv / "bin" / "gunicorn").exists():
        echo("[ ok ] superset               cached")
        return
    echo("[ .. ] superset               installing its virtualenv from PyPI (first time: ~1 min) ...")
    started = time.monotonic()
    uv = Path(sys.executable).parent / "uv"
    # built in place (console scripts name their interpreter's absolute path); the stamp, written last,
    # tells a finished install from an interrupted one, which the next run starts over
    shutil.rmtree(venv, ignore_errors=True)
    run_checked([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], step="setup: superset venv",
                timeout=300)
    run_checked([str(uv), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "--no-deps",
                 "-r", str(SUPERSET_LOCK)], step="setup: install Superset from deps/superset/requirements.txt",
                timeout=1800)
    # byte-compiled once (Superset's start-up imports ~2,000 modules); a file that does not compile is not fatal
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", str(venv / "lib")],
                   capture_output=True, timeout=900, check=False)
    stamp.write_text(want + "\n")
    echo(f"[ ok ] superset               installed in {time.monotonic() - started:.0f}s")


def ensure_contract_format(settings: Settings, echo: Printer) -> None:
    """deps/flink: the fraud stream's `contract-json` source format (the event contract in Java)."""
    jar, built = build_contract_format(settings)
    echo(f"[ ok ] flink-format           {'built' if built else 'cached'} ({jar.name})")


SETUP_STEPS = ("tools", "debian", "jars", "flink-format", "ferretdb", "statsd-exporter", "loopback-bind",
               "datadocs", "superset")


def setup(settings: Settings, echo: Printer = print, only: list[str] | None = None) -> None:
    """Install what the local services need. `only`: a subset of SETUP_STEPS (a container image
    needs the jars and Data Docs assets, not the local servers)."""
    steps = {
        "tools": lambda: check_tools(echo),
        "debian": lambda: ensure_debian_packages(echo),
        "jars": lambda: ensure_jars(settings, echo),
        "flink-format": lambda: ensure_contract_format(settings, echo),
        "ferretdb": lambda: ensure_ferretdb(settings, echo),
        "statsd-exporter": lambda: ensure_statsd_exporter(settings, echo),
        "loopback-bind": lambda: ensure_loopback_bind(settings, echo),
        "datadocs": lambda: datadocs_assets.ensure(settings.datadocs_vendor_dir, echo),
        "superset": lambda: ensure_superset(settings, echo),
    }
    unknown = set(only or ()) - set(steps)
    if unknown:
        raise PlatformError(f"setup: unknown step(s) {', '.join(sorted(unknown))}; choose from {', '.join(steps)}")
    started = time.monotonic()
    for name, step in steps.items():
        if only is None or name in only:
            step()
    echo(f"setup complete in {time.monotonic() - started:.1f}s (cache: {settings.cache_dir})")
