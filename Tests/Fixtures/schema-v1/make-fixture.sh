#!/usr/bin/env bash
# Writes export.ndjson: a small, realistic event log recorded by a crmd whose event types were all
# at schema version 1 (before ActivityLogged and ConsentChanged moved to version 2).
#
# The committed export.ndjson was produced once, with crmd at commit 9edee2d, and must never be
# regenerated with a newer crmd: its whole point is to keep the old schema's bytes, so that tests
# prove today's crmd still reads, projects and verifies them. The script is kept to show how the
# file came to be (business times are fixed; recorded times, actors and generated ids are not).
#
# Usage: make-fixture.sh CRMD CRMCTL OUTPUT
set -euo pipefail
crmd=$1
crmctl=$2
output=$3
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$crmd" serve --data-dir "$dir/data" --socket "$dir/crmd.sock" --log-level warning >"$dir/log" 2>&1 &
pid=$!
until grep -q "crmd ready" "$dir/log" 2>/dev/null; do
    kill -0 "$pid" || { cat "$dir/log"; exit 1; }
    read -rt 0.1 <> <(:) || true
done
ctl() { echo "+ $*" >&2; "$crmctl" --socket "$dir/crmd.sock" "$@" >/dev/null; }

ctl customer create --customer-id ada --first-name Ada --last-name Lovelace --email ada@example.com \
    --phone "+44 20 7946 0000" --tag vip --tier gold --owner u42 --consent email:opted_in \
    --at 2025-03-03T09:00:00Z
ctl customer create --customer-id grace --first-name Grace --last-name Hopper --company-name Navy \
    --email grace@example.com --email hopper@example.org --phone "+1 202 555 0143" --owner u7 \
    --consent email:confirmed_opt_in:grace@example.com --consent phone:opted_in \
    --at 2025-03-03T09:05:00Z
ctl customer update ada --set first_name=Augusta --job-title Countess --at 2025-03-03T10:00:00Z
ctl customer tag ada --add analytical-engine --remove vip --at 2025-03-03T10:05:00Z
ctl customer assign-owner ada --owner u43 --at 2025-03-03T10:10:00Z
ctl customer set-lead-status ada --status CONNECTED --at 2025-03-03T10:15:00Z
ctl customer set-consent grace --channel email --status opted_out --address hopper@example.org \
    --legal-basis consent --source unsubscribe-link --evidence msg-881 --at 2025-03-04T08:00:00Z
ctl customer set-consent ada --channel phone --status opted_out --source call-request \
    --at 2025-03-04T08:30:00Z
ctl activity log --activity-id act-call-1 --type call --customer ada --direction outbound \
    --duration-sec 420 --outcome connected --subject "Intro call" --owner u42 --at 2025-03-04T09:00:00Z
ctl activity log --activity-id act-email-1 --type email --customer ada --customer grace \
    --direction inbound --subject "Re: engine specs" --body "Attached the tables." \
    --at 2025-03-04T11:00:00Z
ctl activity log --activity-id act-meeting-1 --type meeting --customer grace \
    --start-at 2025-03-05T14:00:00Z --end-at 2025-03-05T15:00:00Z --outcome COMPLETED \
    --subject "Compiler demo" --owner u7 --at 2025-03-04T12:00:00Z
ctl activity log --activity-id act-task-1 --type task --customer grace --due-at 2025-03-10T17:00:00Z \
    --task-status NOT_STARTED --subject "Send COBOL proposal" --owner u7 --at 2025-03-04T12:30:00Z
ctl activity log --activity-id act-note-1 --type note --customer ada --body "Prefers letters." \
    --occurred-at 2025-03-04T12:45:00Z --at 2025-03-04T13:00:00Z
ctl deal create --deal-id deal-1 --name "Engine licence" --customer ada --amount 12000 --currency GBP \
    --close-date 2025-06-30 --owner u42 --at 2025-03-05T09:00:00Z
ctl deal move deal-1 qualification --at 2025-03-06T09:00:00Z
ctl ticket open --ticket-id t-1 --customer grace --subject "Cannot log in" --channel email \
    --priority high --message "The portal rejects my password." --at 2025-03-06T10:00:00Z
ctl ticket reply t-1 --author agent --author-id u7 --body "Reset link sent." --set-status pending \
    --at 2025-03-06T10:20:00Z
ctl activity log --activity-id act-task-2 --type task --customer grace --ticket-id t-1 \
    --due-at 2025-03-07T12:00:00Z --task-status COMPLETED --subject "Check login fix" --owner u7 \
    --at 2025-03-06T11:00:00Z
"$crmctl" --socket "$dir/crmd.sock" export --output "$output"
