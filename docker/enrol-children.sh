#!/bin/sh
# Create a one-time enrolment token at this (parent) node for each org unit
# code in CHILD_ORG_UNITS whose node is not linked yet, and write it to
# ENROLMENT_DIR/CODE.token (default /var/lib/theodoi-enrolment), where the
# child node's container reads it on its next start. A token of an earlier
# run that was never used is replaced; it expires unused after TOKEN_HOURS.
set -eu
umask 077

dir="${ENROLMENT_DIR:-/var/lib/theodoi-enrolment}"
links="$(theodoi federation links)"

for code in ${CHILD_ORG_UNITS:?name the child org unit codes, e.g. CHILD_ORG_UNITS="TU01 TU79"}; do
    # The columns of `theodoi federation links` are found by their header names.
    if printf '%s\n' "$links" | awk -F '\t' -v code="$code" '
            NR == 1 { for (i = 1; i <= NF; i++) column[$i] = i; next }
            $column["relation"] == "child" && $column["org_unit"] == code { found = 1 }
            END { exit !found }'; then
        echo "enrol-children: the node of $code is already linked to ${THEODOI_NODE_ID}"
        continue
    fi
    theodoi federation enrol-token "$code" --hours "${TOKEN_HOURS:-24}" > "$dir/$code.token.new"
    mv "$dir/$code.token.new" "$dir/$code.token"
    echo "enrol-children: enrolment token for $code written to $dir/$code.token"
done
