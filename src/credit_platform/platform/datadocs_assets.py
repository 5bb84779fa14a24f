"""The JavaScript and CSS that Great Expectations' Data Docs load from public CDNs, taken from the
npm registry instead, so the Data Docs served inside Airflow render on a machine without internet
access (the plugin rewrites each CDN URL below to its local copy).

Each entry: the URL GX writes into its pages → (npm package@version, file inside the package)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

CDN_FILES: dict[str, tuple[str, str]] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        ("bootstrap@4.3.1", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        ("bootstrap@4.3.1", "dist/js/bootstrap.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        ("popper.js@1.12.9", "dist/umd/popper.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        ("@fortawesome/fontawesome-free@6.6.0", "css/all.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        ("bootstrap-datepicker@1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        ("bootstrap-datepicker@1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        ("@forevolve/bootstrap-dark@1.1.0", "dist/css/bootstrap-prefers-dark.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
}


def package_dir(vendor: Path, spec: str) -> Path:
    return vendor / spec.replace("/", "__")


def ensure(vendor: Path, echo=print) -> None:  # noqa: ANN001
    """Fetch each package once with `npm pack` (cached in `vendor`); idempotent, offline when cached."""
    specs = sorted({spec for spec, _ in CDN_FILES.values()})
    missing = [s for s in specs if not (package_dir(vendor, s) / "package.json").exists()]
    if not missing:
        echo(f"[ ok ] data docs assets       cached ({len(specs)} npm packages)")
        return
    if shutil.which("npm") is None:
        echo("[warn] data docs assets       npm not found: Data Docs will load their scripts from public CDNs")
        return
    vendor.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, *missing], check=True,
                       capture_output=True, text=True, timeout=600)
        for spec in missing:
            name, version = spec.rsplit("@", 1)
            tarball = Path(tmp) / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
            target = package_dir(vendor, spec)
            staging = Path(tmp) / "x"
            shutil.rmtree(staging, ignore_errors=True)
            with tarfile.open(tarball) as archive:
                archive.extractall(staging, filter="data")
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(staging / "package"), target)
    echo(f"[ ok ] data docs assets       {len(missing)} npm packages fetched into {vendor}")


def rewrite(html: str, prefix: str) -> str:
    """The page with every known CDN URL pointing at `prefix/<package>/<file>` instead."""
    for url, (spec, path) in CDN_FILES.items():
        html = html.replace(f'"{url}"', f'"{prefix}/{package_dir(Path(), spec).name}/{path}"')
    return html
