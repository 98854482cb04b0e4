#!/bin/sh
# Start a theodoi node in a container: create its keys and database tables,
# join its parent on the first start, then run the command (by default
# `theodoi serve`).
#
# A child node is given PARENT_URL (the parent's address as the child reaches
# it). Its one-time enrolment token is read from ENROLMENT_TOKEN_FILE
# (default /var/lib/theodoi-enrolment/ORG_UNIT.token), where the compose
# file's init service writes it; the file is deleted once it is used.
set -eu

theodoi init

# Read first, so that a failing command stops the script with its own error
# (set -e) instead of reading as "no parent".
links="$(theodoi federation links)"

has_parent() {
    # The columns of `theodoi federation links` are found by their header names.
    printf '%s\n' "$links" | awk -F '\t' '
        NR == 1 { for (i = 1; i <= NF; i++) column[$i] = i; next }
        $column["relation"] == "parent" { found = 1 }
        END { exit !found }'
}

if [ -n "${PARENT_URL:-}" ] && ! has_parent; then
    token_file="${ENROLMENT_TOKEN_FILE:-/var/lib/theodoi-enrolment/${THEODOI_NODE_ORG_UNIT}.token}"
    if [ ! -s "$token_file" ]; then
        echo "theodoi-node: node ${THEODOI_NODE_ID} is not linked to its parent and $token_file" \
             "contains no enrolment token; create one at the parent with" \
             "\`theodoi federation enrol-token ${THEODOI_NODE_ORG_UNIT}\` and write it there" >&2
        exit 1
    fi
    theodoi federation join -- "$PARENT_URL" "$(cat "$token_file")"
    rm -f "$token_file"
fi

exec "$@"
