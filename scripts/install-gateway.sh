#!/usr/bin/env bash
# Install the city hub's edge agent on a Debian / Raspberry Pi OS gateway (systemd), or
# uninstall it. See docs/edge.md, "Installing on a gateway".
#
#   install-gateway.sh --pack DIR --gateway ID [--source PIP_SPEC_OR_PATH] [--env-file FILE]
#                      [--root DIR] [--no-start]
#   install-gateway.sh --uninstall [--purge] [--gateway ID] [--root DIR]
#
# Idempotent: a second run with the same inputs changes nothing and says "unchanged" for
# each step. Exit status: 0 done; 1 a step failed (e.g. `cityhub edge doctor` found a
# problem, so the agent was not started); 2 bad arguments or inputs (nothing was changed).
set -eEuo pipefail
umask 022
trap 'echo "install-gateway: error: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR

PROG=install-gateway
AGENT=cityhub                      # the system user the agent runs as
VENV=/opt/cityhub                  # the venv with cityhub[edge]
ETC=/etc/cityhub                   # the pack and the secrets
PACK_DEST=$ETC/pack
ENV_DEST=$ETC/edge.env
STATE=/var/lib/cityhub             # the agent's home: its on-disk queue (readings not yet sent)
UNIT_NAME=cityhub-edge@.service
UNIT_DEST=/etc/systemd/system/$UNIT_NAME
NOLOGIN=/usr/sbin/nologin
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

usage() {
    cat <<'EOF'
usage: install-gateway.sh --pack DIR --gateway ID [--source PIP_SPEC_OR_PATH]
                          [--env-file FILE] [--root DIR] [--no-start]
       install-gateway.sh --uninstall [--purge] [--gateway ID] [--root DIR]

Install the city hub's edge agent for gateway ID of the city pack DIR (run as root):
  - a system user `cityhub` (no login shell, home /var/lib/cityhub, the agent's queue);
  - a venv /opt/cityhub with cityhub[edge], from --source: a path to the source tree, a
    wheel or an sdist, or a pip requirement (default: cityhub[edge]); reinstalled only
    when the source changed (recorded in /opt/cityhub/.installed);
  - the pack in /etc/cityhub/pack (root-owned; files holding a PRIVATE KEY 0640
    root:cityhub); the secrets (KEY=VALUE lines, e.g. CITYHUB_GW_DAGO_PASSWORD=...)
    from --env-file in /etc/cityhub/edge.env (0600 root; never printed);
  - the unit /etc/systemd/system/cityhub-edge@.service, checked with systemd-analyze;
  - `cityhub edge doctor` run as the cityhub user with the secrets; if it finds a problem
    the agent is not started and the exit status is 1 (with --no-start: reported only);
  - systemctl daemon-reload, enable --now cityhub-edge@ID (restart if anything changed).
A second run with the same inputs changes nothing.

  --no-start     install, check, but do not enable or start the agent
  --root DIR     install into DIR (for tests or building an image only): every path
                 under DIR, the user made with useradd --root, no systemctl; the venv's
                 scripts name DIR in their paths, so it runs only where DIR is
  --uninstall    stop and disable the agent, remove the unit, the venv and the pack;
                 keep /var/lib/cityhub (the queue: readings not yet sent), the secrets
                 and the user
  --purge        with --uninstall: remove those too (warns if a queue holds readings)

Environment: PYTHON (default python3, >= 3.11, with venv) makes the venv; pip's own
variables (PIP_INDEX_URL, PIP_FIND_LINKS, ...) reach pip.
EOF
}

say() { printf '%-8s %s\n' "$1" "$2"; }
indent() { sed 's/^/    /'; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
fail() {  # fail CODE MESSAGE...
    local code=$1
    shift
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit "$code"
}

# -- arguments --------------------------------------------------------------------------------

pack="" gateway="" source_spec="cityhub[edge]" env_file="" root="/"
no_start=0 uninstall=0 purge=0
need_value() { [ "$2" -ge 2 ] || fail 2 "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case $1 in
        --pack) need_value "$1" $#; pack=$2; shift 2 ;;
        --gateway) need_value "$1" $#; gateway=$2; shift 2 ;;
        --source) need_value "$1" $#; source_spec=$2; shift 2 ;;
        --env-file) need_value "$1" $#; env_file=$2; shift 2 ;;
        --root) need_value "$1" $#; root=$2; shift 2 ;;
        --pack=*) pack=${1#*=}; shift ;;
        --gateway=*) gateway=${1#*=}; shift ;;
        --source=*) source_spec=${1#*=}; shift ;;
        --env-file=*) env_file=${1#*=}; shift ;;
        --root=*) root=${1#*=}; shift ;;
        --no-start) no_start=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; fail 2 "unknown argument: $1" ;;
    esac
done

[ "$purge" -eq 0 ] || [ "$uninstall" -eq 1 ] || fail 2 "--purge goes with --uninstall"
[ "$(id -u)" -eq 0 ] || fail 2 "run as root (sudo $0 ...)"
[ -d "$root" ] || fail 2 "--root $root: no such directory"
root=$(cd "$root" && pwd -P)
if [ "$root" = / ]; then R=""; else R=$root; fi  # every path below is "$R/..."
if [ -n "$gateway" ] && ! [[ $gateway =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]]; then
    fail 2 "--gateway $gateway: not a gateway id (lower-case letters, digits, - and _)"
fi

tmp=$(mktemp -d)  # outside the root: nothing under it changes unless a step changes it
trap 'rm -rf "$tmp"' EXIT

# -- helpers ----------------------------------------------------------------------------------

# The user's passwd entry ("" if absent): from NSS on a live system, from DIR/etc under --root.
user_entry() {
    if [ -z "$R" ]; then
        getent passwd "$AGENT" || true
    elif [ -f "$R/etc/passwd" ]; then
        awk -F: -v u="$AGENT" '$1 == u' "$R/etc/passwd"
    fi
}
group_exists() {
    if [ -z "$R" ]; then getent group "$AGENT" >/dev/null; else
        [ -f "$R/etc/group" ] && awk -F: -v g="$AGENT" '$1 == g {f = 1} END {exit !f}' "$R/etc/group"
    fi
}
agent_ids() {  # sets uid and gid ("" if the user does not exist)
    local entry
    entry=$(user_entry)
    uid=$(cut -d: -f3 <<<"$entry")
    gid=$(cut -d: -f4 <<<"$entry")
}

# systemd's EnvironmentFile= syntax, the part this script accepts: KEY=VALUE lines, blank
# lines and comments (# or ;); a value may be in single or double quotes. Prints the
# number of the first line that is none of these (never its content: it may be a secret).
ENV_LINE='^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$'
env_bad_line() {
    local line n=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        line=${line%$'\r'}
        [[ $line =~ ^[[:space:]]*([#\;].*)?$ ]] && continue
        [[ $line =~ $ENV_LINE ]] || { echo "$n"; return 0; }
    done <"$1"
}
export_env_file() {  # export the file's variables into this (sub)shell: nothing is printed
    local line key val
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        [[ $line =~ ^[[:space:]]*([#\;].*)?$ ]] && continue
        [[ $line =~ $ENV_LINE ]] || continue
        key=${BASH_REMATCH[1]}
        val=${BASH_REMATCH[2]}
        if [[ $val =~ ^\"(.*)\"[[:space:]]*$ ]] || [[ $val =~ ^\'(.*)\'[[:space:]]*$ ]]; then
            val=${BASH_REMATCH[1]}
        else
            val=${val%"${val##*[![:space:]]}"}  # trailing blanks, as systemd strips them
        fi
        export "$key=$val"
    done <"$1"
}

# Run a command as the agent would run: as the cityhub user (on a live system), in its
# home, with the secrets of edge.env in its environment (with "--env") as systemd passes
# them. Under --root the user exists only inside DIR, so it runs as the invoking user.
run_as_agent() {
    local with_env=0
    if [ "$1" = --env ]; then with_env=1; shift; fi
    (
        if [ "$with_env" -eq 1 ] && [ -f "$R$ENV_DEST" ]; then export_env_file "$R$ENV_DEST"; fi
        export HOME="$R$STATE" USER="$AGENT" LOGNAME="$AGENT"
        cd "$R$STATE"
        agent_ids
        if [ -z "$R" ] && [ -n "$uid" ]; then
            exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"
        fi
        exec "$@"
    )
}

# Owner and mode of a path as "uid:gid mode", or "" if absent.
owner_mode() { stat -c '%u:%g %a' "$1" 2>/dev/null || true; }

# A tree's listing for comparing two copies: type, mode, owner of every entry.
tree_meta() { (cd "$1" && find . -printf '%P %y %m %U %G\n' | LC_ALL=C sort); }
same_tree() {
    diff -r --no-dereference -q "$1" "$2" >/dev/null 2>&1 &&
        [ "$(tree_meta "$1")" = "$(tree_meta "$2")" ]
}

# Install file $1 as $2 with owner root and mode $3, via a temporary file and a rename.
put_file() {
    local new
    new="$(dirname "$2")/.$(basename "$2").new"
    (umask 077 && cat "$1" >"$new")
    chown 0:0 "$new"
    chmod "$3" "$new"
    mv -f "$new" "$2"
}

# The source files of a source tree, NUL-separated: what git tracks and would track
# (.gitignore honoured) in a git work tree, else every file but build output and caches.
source_files() {
    local top=""
    if command -v git >/dev/null 2>&1; then
        top=$(git -C "$1" rev-parse --show-toplevel 2>/dev/null || true)
    fi
    if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$1" ]; then
        git -C "$1" ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
            [ -f "$1/$f" ] && printf '%s\0' "$f"
        done
    else
        (cd "$1" && find . \( -name .git -o -name .venv -o -name venv -o -name build \
            -o -name dist -o -name __pycache__ -o -name '*.egg-info' -o -name .mypy_cache \
            -o -name .ruff_cache -o -name .pytest_cache -o -name .hypothesis -o -name var \
            -o -name node_modules \) -prune -o -type f ! -name '*.pyc' ! -name '*.so' \
            ! -name '*.db' ! -name '*.db-wal' ! -name '*.db-shm' -printf '%P\0')
    fi | LC_ALL=C sort -z
}

# Readings waiting in a queue file: the venv's `cityhub edge status`, else sqlite3; "?" if
# neither can tell.
queue_depth() {
    local n="" out
    if [ -x "$R$VENV/bin/cityhub" ]; then
        out=$(run_as_agent "$R$VENV/bin/cityhub" edge status --queue "$1" 2>/dev/null || true)
        n=$(sed -n 's/.* \([0-9][0-9]*\) readings waiting.*/\1/p' <<<"$out" | head -n 1)
    fi
    if [ -z "$n" ] && command -v sqlite3 >/dev/null 2>&1; then
        n=$(run_as_agent sqlite3 -readonly "$1" 'SELECT COUNT(*) FROM queue' 2>/dev/null || true)
    fi
    echo "${n:-?}"
}

# The agent's instances: the one named, the enabled ones, and (live) the loaded ones.
instances() {
    local link u
    {
        [ -z "$gateway" ] || echo "cityhub-edge@$gateway.service"
        for link in "$R"/etc/systemd/system/*.wants/cityhub-edge@*.service; do
            [ -e "$link" ] || [ -L "$link" ] && basename "$link"
        done
        if [ -z "$R" ] && command -v systemctl >/dev/null 2>&1; then
            systemctl list-units --all --plain --no-legend 'cityhub-edge@*' 2>/dev/null |
                while read -r u _; do echo "$u"; done
        fi
    } | { grep -v '^cityhub-edge@\.service$' || true; } | sort -u
}

remove_user() {
    if [ -z "$(user_entry)" ]; then say user "$AGENT: absent"; return; fi
    if [ -z "$R" ]; then
        userdel "$AGENT"
    elif ! userdel --root "$R" "$AGENT" 2>"$tmp/userdel.err"; then
        # useradd/userdel --root chroot into DIR; where they cannot, edit DIR's files
        # (only ever under --root, never on a live system).
        cat "$tmp/userdel.err" >&2
        local f
        for f in passwd shadow; do
            [ -f "$R/etc/$f" ] && sed -i "/^$AGENT:/d" "$R/etc/$f"
        done
    fi
    if group_exists; then
        if [ -z "$R" ]; then groupdel "$AGENT"; elif ! groupdel --root "$R" "$AGENT" 2>/dev/null; then
            local f
            for f in group gshadow; do
                [ -f "$R/etc/$f" ] && sed -i "/^$AGENT:/d" "$R/etc/$f"
            done
        fi
    fi
    say user "$AGENT: removed"
}

# -- uninstall --------------------------------------------------------------------------------

if [ "$uninstall" -eq 1 ]; then
    echo "$PROG: uninstalling the edge agent${R:+ from root $R}"
    mapfile -t units < <(instances)
    for u in "${units[@]}"; do
        if [ -z "$R" ]; then
            if systemctl is-enabled --quiet "$u" 2>/dev/null || systemctl is-active --quiet "$u"; then
                systemctl disable --now --quiet "$u"
                say service "$u: stopped and disabled (it published what it could)"
            else
                say service "$u: not enabled"
            fi
        else
            links=("$R"/etc/systemd/system/*.wants/"$u")
            if [ -e "${links[0]}" ] || [ -L "${links[0]}" ]; then
                rm -f "${links[@]}"
                say service "$u: disabled (its .wants links removed; --root: no systemctl)"
            else
                say service "$u: not enabled"
            fi
        fi
    done
    if [ -e "$R$UNIT_DEST" ]; then
        rm -f "$R$UNIT_DEST"
        say unit "$R$UNIT_DEST: removed"
        if [ -z "$R" ]; then systemctl daemon-reload; fi
    else
        say unit "$R$UNIT_DEST: absent"
    fi

    # Count what is still queued while the venv can tell (before it goes).
    queued_total=0 unknown=0 report=()
    for q in "$R$STATE"/edge-*.db; do
        [ -f "$q" ] || continue
        n=$(queue_depth "$q")
        report+=("$(basename "$q"): $n readings not yet sent")
        if [ "$n" = "?" ]; then unknown=1; else queued_total=$((queued_total + n)); fi
    done

    for d in "$R$VENV" "$R$PACK_DEST"; do
        if [ -e "$d" ]; then rm -rf "$d"; say remove "$d: removed"; else say remove "$d: absent"; fi
    done

    if [ "$purge" -eq 1 ]; then
        if [ "$queued_total" -gt 0 ] || [ "$unknown" -eq 1 ]; then
            {
                echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
                echo "!!! WARNING: --purge deletes the agent's queue in $R$STATE, and it still holds"
                echo "!!! readings the hub has not received (they are lost now):"
                for line in "${report[@]}"; do echo "!!!   $line"; done
                echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            } >&2
        fi
        if [ -e "$R$STATE" ]; then
            rm -rf "$R$STATE"
            say state "$R$STATE: removed${report[*]:+ (${report[*]})}"
        else
            say state "$R$STATE: absent"
        fi
        if [ -e "$R$ENV_DEST" ]; then rm -f "$R$ENV_DEST"; say env "$R$ENV_DEST: removed"; else
            say env "$R$ENV_DEST: absent"; fi
        rmdir "$R$ETC" 2>/dev/null || true
        remove_user
    else
        if [ -e "$R$STATE" ]; then
            say state "$R$STATE: kept (the queue)${report[*]:+: ${report[*]}}"
        fi
        [ -e "$R$ENV_DEST" ] && say env "$R$ENV_DEST: kept"
        [ -n "$(user_entry)" ] && say user "$AGENT: kept"
        echo "$PROG: uninstalled; --uninstall --purge also removes the queue, the secrets and the user"
    fi
    exit 0
fi

# -- install: check every input before changing anything --------------------------------------

[ -n "$pack" ] || fail 2 "--pack DIR is required (see --help)"
[ -n "$gateway" ] || fail 2 "--gateway ID is required (see --help)"
[ -d "$pack" ] || fail 2 "--pack $pack: no such directory"
pack=$(cd "$pack" && pwd -P)
[ -f "$pack/city.yaml" ] || fail 2 "--pack $pack: no city.yaml (not a city pack)"
if [ ! -f "$pack/gateways/$gateway.yaml" ]; then
    known=$(find "$pack/gateways" -maxdepth 1 -name '*.yaml' -printf '%f\n' 2>/dev/null |
        sed 's/\.yaml$//' | LC_ALL=C sort | paste -sd ' ' - || true)
    fail 2 "no gateway '$gateway' in the pack $pack: gateways/$gateway.yaml not found" \
        "(its gateways: ${known:-none})"
fi
if [ -n "$env_file" ]; then
    { [ -f "$env_file" ] && [ -r "$env_file" ]; } || fail 2 "--env-file $env_file: no such readable file"
    bad=$(env_bad_line "$env_file")
    [ -z "$bad" ] || fail 2 "--env-file $env_file: line $bad is not KEY=VALUE (nor blank or a # comment)"
fi

# What to install, and its digest (what .installed records): a source tree by its files'
# contents, a wheel or sdist by its bytes, a pip requirement by its text.
if [ -e "$source_spec" ]; then
    src=$(realpath -- "$source_spec")
    if [ -d "$src" ]; then
        [ -f "$src/pyproject.toml" ] || [ -f "$src/setup.py" ] ||
            fail 2 "--source $source_spec: a directory without pyproject.toml or setup.py"
        source_files "$src" >"$tmp/source.list"
        [ -s "$tmp/source.list" ] || fail 2 "--source $source_spec: no files"
        digest=$(cd "$src" && xargs -0 sha256sum -- <"$tmp/source.list" | sha256sum | cut -d' ' -f1)
        src_kind=tree
    else
        digest=$(sha256sum -- "$src" | cut -d' ' -f1)
        src_kind="file"
    fi
elif [[ $source_spec == */* || $source_spec == *.whl || $source_spec == *.tar.gz ]]; then
    fail 2 "--source $source_spec: no such file or directory"
else
    src=$source_spec
    digest=$(printf 'pip:%s' "$src" | sha256sum | cut -d' ' -f1)
    src_kind=spec
    [[ $src == *"[edge"* || $src == *",edge"* ]] ||
        warn "--source $src names no [edge] extra: the agent needs cityhub[edge]"
fi

venv_ok=0
if [ -x "$R$VENV/bin/python" ] && "$R$VENV/bin/python" -c '' 2>/dev/null; then venv_ok=1; fi
PYTHON=${PYTHON:-python3}
if [ "$venv_ok" -eq 0 ]; then
    "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
        fail 2 "$PYTHON: need Python >= 3.11 with the venv module (apt-get install python3-venv)"
fi

# The pack as it will be installed, staged outside the root: root-owned, 0755 directories,
# 0644 files (private keys 0640 root:cityhub once the user exists). Symlinks are followed.
stage=$tmp/pack
mkdir "$stage"
cp -RL -- "$pack/." "$stage/" || fail 2 "--pack $pack: cannot copy it (a dangling link?)"
find "$stage" -name .git -prune -exec rm -rf {} +
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chown -R 0:0 "$stage"

echo "$PROG: gateway $gateway of the pack $pack${R:+, into root $R}"
changed=0  # anything the running agent reads changed: restart it

# -- the user and its home (the queue) ----------------------------------------------------------

if [ -n "$(user_entry)" ]; then
    say user "$AGENT: unchanged"
else
    args=(--system --home-dir "$STATE" --no-create-home --shell "$NOLOGIN"
        --comment "city hub edge agent")
    if group_exists; then args+=(--gid "$AGENT"); else args+=(--user-group); fi
    if [ -z "$R" ]; then
        useradd "${args[@]}" "$AGENT"
    elif ! useradd --root "$R" "${args[@]}" "$AGENT" 2>"$tmp/useradd.err"; then
        # useradd --root chroots into DIR (it needs DIR/etc/passwd, group, shadow, gshadow);
        # where it cannot, write the entries by hand: only under --root, never live.
        cat "$tmp/useradd.err" >&2
        free_id() {
            awk -F: '{used[$3] = 1} END {for (i = 999; i >= 100; i--) if (!(i in used)) {print i; exit}}' "$1"
        }
        touch "$R/etc/passwd" "$R/etc/group"
        g=$(awk -F: -v g="$AGENT" '$1 == g {print $3}' "$R/etc/group")
        if [ -z "$g" ]; then
            g=$(free_id "$R/etc/group")
            echo "$AGENT:x:$g:" >>"$R/etc/group"
            [ ! -f "$R/etc/gshadow" ] || echo "$AGENT:!::" >>"$R/etc/gshadow"
        fi
        echo "$AGENT:x:$(free_id "$R/etc/passwd"):$g:city hub edge agent:$STATE:$NOLOGIN" >>"$R/etc/passwd"
        [ ! -f "$R/etc/shadow" ] || echo "$AGENT:!:$(($(date +%s) / 86400))::::::" >>"$R/etc/shadow"
    elif [ -s "$tmp/useradd.err" ]; then
        grep -v "missing or non-executable shell" "$tmp/useradd.err" >&2 || true
    fi
    say user "$AGENT: created (system user, no login shell, home $STATE)"
fi
agent_ids
[ -n "$uid" ] || fail 1 "the user $AGENT has no entry after creating it"

# The unit's StateDirectory=cityhub makes it too, owned by the user, 0755: the same here,
# so that the doctor can check the queue's directory before the first start.
if [ ! -d "$R$STATE" ]; then
    install -d -m 0755 -o "$uid" -g "$gid" "$R$STATE"
    say state "$R$STATE: created"
elif [ "$(owner_mode "$R$STATE")" != "$uid:$gid 755" ]; then
    chown "$uid:$gid" "$R$STATE"
    chmod 0755 "$R$STATE"
    say state "$R$STATE: owner and mode set"
else
    say state "$R$STATE: unchanged"
fi

# -- the venv ------------------------------------------------------------------------------------

installed_digest=$(sed -n 's/^digest: //p' "$R$VENV/.installed" 2>/dev/null || true)
if [ "$venv_ok" -eq 1 ] && [ -x "$R$VENV/bin/cityhub" ] && [ "$installed_digest" = "sha256:$digest" ]; then
    say venv "$R$VENV: unchanged ($(sed -n 's/^version: //p' "$R$VENV/.installed"), sha256:${digest:0:12})"
else
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
    if [ "$venv_ok" -eq 0 ]; then
        mkdir -p "$(dirname "$R$VENV")"
        "$PYTHON" -m venv --clear "$R$VENV"
    fi
    rm -f "$R$VENV/.installed"
    pip=("$R$VENV/bin/python" -m pip)
    if "${pip[@]}" show --quiet cityhub >/dev/null 2>&1; then
        "${pip[@]}" uninstall --quiet --yes cityhub  # a source of the same version
    fi
    case $src_kind in
        tree)  # from a clean copy of its files: no build output lands in (or comes from) it
            mkdir "$tmp/src"
            (cd "$src" && tar --null -T "$tmp/source.list" -cf -) | (cd "$tmp/src" && tar -xf -)
            target="$tmp/src[edge]" ;;
        file) target="${src}[edge]" ;;
        spec) target=$src ;;
    esac
    echo "$PROG: pip install $src_kind $src into $R$VENV (this takes a while)"
    "${pip[@]}" install --quiet "$target" || fail 1 "pip could not install $src into $R$VENV"
    version=$("$R$VENV/bin/python" -c 'import importlib.metadata as m; print("cityhub", m.version("cityhub"))')
    printf 'source: %s\ndigest: sha256:%s\nversion: %s\n' "$src" "$digest" "$version" >"$tmp/installed"
    put_file "$tmp/installed" "$R$VENV/.installed" 0644
    say venv "$R$VENV: installed $version from $src (sha256:${digest:0:12})"
    changed=1
fi

# -- the pack ------------------------------------------------------------------------------------

# shellcheck disable=SC2016  # $0 and $@ are sh's, not ours
{ grep -rlZ -e 'PRIVATE KEY' "$stage" || true; } |
    xargs -0 -r sh -c 'chgrp "$0" "$@" && chmod 0640 "$@"' "$gid"
if [ ! -d "$R$ETC" ]; then install -d -m 0755 -o 0 -g 0 "$R$ETC"; fi
if [ -d "$R$PACK_DEST" ] && same_tree "$stage" "$R$PACK_DEST"; then
    say pack "$R$PACK_DEST: unchanged"
else
    what=installed
    if [ -e "$R$PACK_DEST" ]; then
        what="updated: $({ diff -rq "$R$PACK_DEST" "$stage" 2>/dev/null || true; } | wc -l) file(s) differ"
    fi
    rm -rf "$R$ETC/.pack.new" "$R$ETC/.pack.old"
    cp -a "$stage" "$R$ETC/.pack.new"
    if [ -e "$R$PACK_DEST" ]; then mv -T "$R$PACK_DEST" "$R$ETC/.pack.old"; fi
    mv -T "$R$ETC/.pack.new" "$R$PACK_DEST"
    rm -rf "$R$ETC/.pack.old"
    say pack "$R$PACK_DEST: $what"
    changed=1
fi

# -- the secrets (systemd reads EnvironmentFile= as root, before it drops to the user) ---------

if [ -n "$env_file" ]; then
    if [ -f "$R$ENV_DEST" ] && cmp -s "$env_file" "$R$ENV_DEST"; then
        if [ "$(owner_mode "$R$ENV_DEST")" = "0:0 600" ]; then
            say env "$R$ENV_DEST: unchanged"
        else
            chown 0:0 "$R$ENV_DEST"
            chmod 0600 "$R$ENV_DEST"
            say env "$R$ENV_DEST: owner and mode set (root, 0600)"
        fi
    else
        what=installed
        [ ! -e "$R$ENV_DEST" ] || what=updated
        put_file "$env_file" "$R$ENV_DEST" 0600
        say env "$R$ENV_DEST: $what (root, 0600; its values are not shown)"
        changed=1
    fi
elif [ -f "$R$ENV_DEST" ]; then
    say env "$R$ENV_DEST: unchanged (no --env-file: the one there is kept)"
else
    say env "$R$ENV_DEST: none (no --env-file): the gateway's password must come from elsewhere"
fi

# -- the unit ------------------------------------------------------------------------------------

# The installed package's copy (it matches the agent installed), else this tree's.
unit_src=""
for f in "$R$VENV"/lib/python3*/site-packages/edge/deploy/"$UNIT_NAME" "$SCRIPT_DIR/../edge/deploy/$UNIT_NAME"; do
    if [ -f "$f" ]; then unit_src=$f; break; fi
done
[ -n "$unit_src" ] || fail 1 "no $UNIT_NAME in the installed package nor in $SCRIPT_DIR/../edge/deploy"
unit_changed=0
if [ -f "$R$UNIT_DEST" ] && cmp -s "$unit_src" "$R$UNIT_DEST" &&
    [ "$(owner_mode "$R$UNIT_DEST")" = "0:0 644" ]; then
    say unit "$R$UNIT_DEST: unchanged"
else
    what=installed
    [ ! -e "$R$UNIT_DEST" ] || what=updated
    mkdir -p "$(dirname "$R$UNIT_DEST")"
    put_file "$unit_src" "$R$UNIT_DEST" 0644
    say unit "$R$UNIT_DEST: $what"
    unit_changed=1
    changed=1
fi

problems=0
instance=cityhub-edge@$gateway.service
if ! command -v systemd-analyze >/dev/null 2>&1; then
    say verify "skipped: no systemd-analyze"
elif [ -n "$R" ] && [ ! -e "$R/usr/lib/systemd/system/sysinit.target" ] &&
    [ ! -e "$R/lib/systemd/system/sysinit.target" ]; then
    say verify "skipped: $R has no systemd units (sysinit.target) to verify $instance against"
else
    verify=(systemd-analyze verify --man=no)
    [ -z "$R" ] || verify+=(--root="$R")
    if out=$("${verify[@]}" "$instance" 2>&1); then
        if [ -z "$out" ]; then say verify "$instance: OK (systemd-analyze verify)"; else
            say verify "$instance: warnings (systemd-analyze verify):"
            indent <<<"$out"
        fi
    else
        say verify "$instance: FAILED (systemd-analyze verify):"
        indent <<<"$out"
        problems=1
    fi
fi
if [ -z "$R" ] && [ "$unit_changed" -eq 1 ]; then systemctl daemon-reload; fi

# -- the doctor: as the agent will run, before it is started -------------------------------------

gw_file=$R$PACK_DEST/gateways/$gateway.yaml
queue=$R$STATE/edge-$gateway.db
max_mb=$(sed -n 's/^ExecStart=.*--queue-max-mb[ =]\([0-9.][0-9.]*\).*/\1/p' "$R$UNIT_DEST" | head -n 1)
who=$AGENT
[ -z "$R" ] || who="$(id -un) (under --root the user $AGENT exists only inside the root)"
[ ! -f "$R$ENV_DEST" ] || who="$who, with the variables of ${ENV_DEST##*/}"
say doctor "cityhub edge doctor --gateway $gw_file, as $who:"
doctor_rc=0
run_as_agent --env "$R$VENV/bin/cityhub" edge doctor --gateway "$gw_file" --queue "$queue" \
    --queue-max-mb "${max_mb:-64}" >"$tmp/doctor.out" 2>&1 || doctor_rc=$?
indent <"$tmp/doctor.out"
if [ "$doctor_rc" -ne 0 ]; then
    say doctor "FAILED (exit $doctor_rc): fix what the lines above say (fix: ...), then run this again"
    problems=1
fi

# -- start ---------------------------------------------------------------------------------------

if [ -n "$R" ]; then
    say service "$instance: not started (--root $R: no systemctl)"
elif [ "$no_start" -eq 1 ]; then
    say service "$instance: not started (--no-start); start it with: systemctl enable --now $instance"
    if [ "$changed" -eq 1 ] && systemctl is-active --quiet "$instance"; then
        say service "$instance: still runs the previous installation: systemctl restart $instance"
    fi
elif [ "$problems" -ne 0 ]; then
    :
elif systemctl is-enabled --quiet "$instance" 2>/dev/null && systemctl is-active --quiet "$instance"; then
    if [ "$changed" -eq 1 ]; then
        systemctl restart "$instance"
        say service "$instance: restarted (the installation changed)"
    else
        say service "$instance: unchanged (enabled, running)"
    fi
else
    systemctl enable --now --quiet "$instance"
    say service "$instance: enabled and started (journalctl -u $instance -f)"
fi

if [ "$problems" -ne 0 ]; then
    [ "$no_start" -eq 1 ] ||
        fail 1 "installed but not started: fix the problems above and run this again (or --no-start)"
    warn "installed, not started, with the problems above"
fi
echo "$PROG: done; the queue: $R$VENV/bin/cityhub edge status --queue $queue"
