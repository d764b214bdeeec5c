#!/usr/bin/env bash
# System (Debian) packages the test suite needs that pip cannot provide.
#   promtool                  <- Debian package "prometheus"       (tests/test_prometheus.py)
#   /usr/bin/chromium (+driver) <- Debian packages "chromium", "chromium-driver"
#                                (tests/test_report_browser.py; Playwright drives Debian's chromium,
#                                 `playwright install` is never used)
#   CJK fonts                 <- Debian package "fonts-noto-cjk"   (report screenshots in ja/ko)
#   pdftotext, pdfinfo        <- Debian package "poppler-utils"    (tests/test_report_browser.py reads
#                                the printed PDFs: page count, page numbers, what is on page 1)
#   ip (netns, veth)          <- Debian package "iproute2"         (tests/faults/test_fault_netns.py cuts
#                                the daemon's egress inside a network namespace; needs root)
#   initdb, postgres, pg_ctl  <- Debian package "postgresql"       (tests/postgres.py starts a throwaway
#                                cluster in a temporary directory; as root it runs them as the
#                                package's "postgres" user; the package's own "main" cluster is unused)
# Idempotent and quick when everything is already installed: each tool is checked first and
# apt is touched only when something is missing.
set -euo pipefail

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
if [ ! -x /usr/bin/chromium ]; then
    packages+=(chromium chromium-driver)
fi
# Japanese and Korean reports: without CJK fonts the browser's screenshots and PDFs show boxes
[ -d /usr/share/fonts/opentype/noto ] || packages+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || packages+=(poppler-utils)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || packages+=(iproute2)
# the server binaries live outside PATH, under a versioned directory
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
have_postgres || packages+=(postgresql)

if [ "${#packages[@]}" -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: missing ${packages[*]} and apt-get is not available; install them by hand" >&2
    exit 1
fi

run=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        run=(sudo)
    else
        echo "system-deps: missing ${packages[*]}; not root and no sudo: install them as root" >&2
        exit 1
    fi
fi

echo "system-deps: installing ${packages[*]}" >&2
"${run[@]}" apt-get update -qq
"${run[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${packages[@]}"

command -v promtool >/dev/null 2>&1 || { echo "system-deps: promtool still missing after install" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "system-deps: /usr/bin/chromium still missing after install" >&2; exit 1; }
command -v pdftotext >/dev/null 2>&1 || { echo "system-deps: pdftotext still missing after install" >&2; exit 1; }
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] \
    || { echo "system-deps: ip (iproute2) still missing after install" >&2; exit 1; }
have_postgres || { echo "system-deps: /usr/lib/postgresql/*/bin/initdb still missing after install" >&2; exit 1; }
