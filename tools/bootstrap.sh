# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the ece_o365.preflight collection
#
# Sourced (not executed) by tools/test, tools/preflight and .ci/run:
#
#     . "$(dirname "$0")/bootstrap.sh"
#
# Idempotent, and fast when everything is already in place. It
#   1. installs the Debian packages the lab and the tests need (as root; otherwise
#      it prints the exact `sudo apt-get install ...` to run and exits 2),
#   2. creates .venv at the repository root and installs tools/requirements-dev.txt
#      into it whenever that file changed (sha256 stamp in .venv), and the same for
#      .venv-mitm and tools/requirements-mitm.txt (mitmproxy, for the integration tests),
#   3. links .build/collections/ansible_collections/ece_o365/preflight to the
#      repository root, so Ansible finds the collection by its FQCN,
#   4. writes the ansible-test get-pip stand-in (see docs/development.md),
#   5. exports PROJECT_ROOT, PATH (.venv/bin first), VIRTUAL_ENV,
#      ANSIBLE_COLLECTIONS_PATH, PREFLIGHT_PYTHON and PREFLIGHT_MITMDUMP.
#
# Knobs: PYTHON (interpreter for a new .venv, default python3),
#        BOOTSTRAP_QUIET=1 (no progress messages).

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "tools/bootstrap.sh is meant to be sourced: . tools/bootstrap.sh" >&2
    exit 2
fi

# Debian packages the lab (Dovecot, network namespaces, sshd) and the tests need.
BOOTSTRAP_DEBIAN_PACKAGES=(
    dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-auth-lua
    iproute2 nftables openssh-server python3-venv git tinyproxy
    chromium  # the HTML report opened headless (tests/integration/report): ~113 MB, ~20 s to install
)

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export PROJECT_ROOT

bootstrap_log() {
    [[ "${BOOTSTRAP_QUIET:-0}" == 1 ]] || echo "bootstrap: $*" >&2
}

# Prints the packages of BOOTSTRAP_DEBIAN_PACKAGES that are not installed.
bootstrap_missing_packages() {
    local pkg status
    for pkg in "${BOOTSTRAP_DEBIAN_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == installed ]] || printf '%s\n' "$pkg"
    done
}

bootstrap_debian_packages() {
    local -a missing
    if ! command -v dpkg-query >/dev/null 2>&1; then
        bootstrap_log "not a Debian/Ubuntu system: make sure these are installed: ${BOOTSTRAP_DEBIAN_PACKAGES[*]}"
        return 0
    fi
    mapfile -t missing < <(bootstrap_missing_packages)
    ((${#missing[@]} == 0)) && return 0
    if [[ "$(id -u)" != 0 ]]; then
        {
            echo "bootstrap: these Debian packages are missing: ${missing[*]}"
            echo "bootstrap: install them, then run this again:"
            echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        } >&2
        return 2
    fi
    bootstrap_log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A package list is needed only when something is missing; update it once.
    apt-get update -qq >&2 || return 1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || return 1
}

# bootstrap_venv_install DIR REQUIREMENTS: make the virtual environment DIR (when missing or
# broken) and pip install REQUIREMENTS into it whenever that file's sha256 differs from the stamp
# DIR/.<requirements file name>.sha256 (pip's output goes to DIR/pip-install.log).
bootstrap_venv_install() {
    local venv="$1" requirements="$2"
    local stamp
    stamp="$venv/.$(basename "$requirements" .txt).sha256"
    local log="$venv/pip-install.log"
    local want have=""
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c '' 2>/dev/null; then
        bootstrap_log "creating $venv with $("${PYTHON:-python3}" --version 2>&1)"
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv" || return 1
    fi
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    [[ -f "$stamp" ]] && have="$(cat "$stamp")"
    [[ "$want" == "$have" ]] && return 0
    bootstrap_log "installing ${requirements#"$PROJECT_ROOT"/} into ${venv#"$PROJECT_ROOT"/} (log: $log)"
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check -r "$requirements" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "bootstrap: pip install failed; the whole log is $log" >&2
        return 1
    fi
    echo "$want" >"$stamp"
}

bootstrap_venv() {
    # .venv: everything the collection, its tests and its linters use.
    bootstrap_venv_install "$PROJECT_ROOT/.venv" "$PROJECT_ROOT/tools/requirements-dev.txt" || return 1
    # .venv-mitm: mitmproxy, the integration tests' TLS-intercepting proxy. Its own environment,
    # because mitmproxy pins cryptography and ruamel.yaml to versions that would downgrade
    # ansible-lint and cryptography in .venv.
    bootstrap_venv_install "$PROJECT_ROOT/.venv-mitm" "$PROJECT_ROOT/tools/requirements-mitm.txt" || return 1
}

bootstrap_collection_link() {
    local link="$PROJECT_ROOT/.build/collections/ansible_collections/ece_o365/preflight"
    if [[ "$(readlink "$link" 2>/dev/null)" != "$PROJECT_ROOT" ]]; then
        mkdir -p "$(dirname "$link")" && ln -sfn "$PROJECT_ROOT" "$link"
    fi
}

# ansible-test bootstraps pip in every venv it makes by downloading a get-pip
# script from a host that is unreachable here. It uses a cached copy at these
# paths without checking it, so a stand-in that uses the interpreter's own
# ensurepip and then pip installs the requested pip from the package index does.
bootstrap_get_pip_standin() {
    local cache="$HOME/.ansible/test/cache" version file content
    content='# Written by tools/bootstrap.sh of ece_o365.preflight: a stand-in for get-pip.py.
# ansible-test runs it as: get_pip_X_Y.py --disable-pip-version-check pip==X.Y --no-setuptools --no-wheel
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)'
    mkdir -p "$cache" || return 1
    for version in 24_2 25_2; do
        file="$cache/get_pip_$version.py"
        if [[ ! -f "$file" ]] || [[ "$(cat "$file")" != "$content" ]]; then
            printf '%s\n' "$content" >"$file" || return 1
        fi
    done
}

# Every step returns non-zero on failure by itself: they run where errexit is off.
bootstrap_steps() {
    bootstrap_debian_packages || return $?
    bootstrap_venv || return $?
    bootstrap_collection_link || return $?
    bootstrap_get_pip_standin || return $?
}

bootstrap_main() {
    local rc=0
    mkdir -p "$PROJECT_ROOT/.build" || return 1
    # Serialise concurrent bootstraps (tools/test and tools/preflight at once).
    exec 9>"$PROJECT_ROOT/.build/bootstrap.lock"
    flock 9
    bootstrap_steps || rc=$?
    flock -u 9
    exec 9>&-
    return "$rc"
}

# Returns (from this sourced file) 2 when packages are missing and we are not root,
# 1 on any other failure; a caller running with `set -e` then exits with that status.
bootstrap_main || return $?

export VIRTUAL_ENV="$PROJECT_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export PREFLIGHT_PYTHON="$VIRTUAL_ENV/bin/python"
export PREFLIGHT_MITMDUMP="$PROJECT_ROOT/.venv-mitm/bin/mitmdump"
export ANSIBLE_COLLECTIONS_PATH="$PROJECT_ROOT/.build/collections"
