"""The operator's CLI: a thin client of the admin API (/admin/v1), answers printed readably.

    python -m bff.admin tokens bootstrap --name ops --all-scopes    # the first token, from the DB
    export TERN_ADMIN_TOKEN=tern_admin_...                          # or --token
    python -m bff.admin releases set ios --min 2.0.0 --latest 2.3.0 --update-url https://...
    python -m bff.admin flags set new_ui --rollout 10
    python -m bff.admin safelist upload ios 2.3.0 app/graphql/*.graphql

`--url` (or TERN_ADMIN_URL) is the BFF, http://127.0.0.1:8000 by default. Exit codes: 0 done,
1 the API refused or could not be reached, 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bff.admin.scopes import ALL_SCOPES

DEFAULT_URL = "http://127.0.0.1:8000"
_PREFIX = "/admin/v1"
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

Printer = Callable[[Any], None]


class CliError(Exception):
    """A refusal or failure to report on stderr (exit code 1)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# --- the API ------------------------------------------------------------------------------


def _call(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    document_names: Sequence[str] = (),
) -> Any:
    """One admin API call; its JSON answer (None for 204), or CliError with the API's error
    (the documents it names by index named by `document_names`, e.g. their files)."""
    if not args.token:
        raise CliError("no admin token: pass --token or set TERN_ADMIN_TOKEN")
    query = {k: v for k, v in (params or {}).items() if v is not None}
    try:
        with httpx.Client(base_url=args.url, timeout=args.timeout) as http:
            response = http.request(
                method,
                f"{_PREFIX}{path}",
                json=body,
                params=query,
                headers={"authorization": f"Bearer {args.token}"},
            )
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the BFF at {args.url}: {exc}") from exc
    if response.status_code == 204:
        return None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_error:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            message = f"{response.status_code} {error.get('code')}: {error.get('message')}"
            details = error.get("details") or {}
            fields = details.get("fields")
            if fields:
                message += "".join(f"\n  {f['field']}: {f['problem']}" for f in fields)
            for document in details.get("documents") or ():
                index = document.get("index")
                named = isinstance(index, int) and 0 <= index < len(document_names)
                name = document_names[index] if named else f"document {index}"
                message += f"\n  {name}: {'; '.join(document.get('errors') or ())}"
            raise CliError(message)
        raise CliError(f"{response.status_code}: {response.text[:500]}")
    return data


def _quote(value: str) -> str:
    """One path segment: an email's @ and anything else kept inside it."""
    return urllib.parse.quote(value, safe="@")


# --- printing -----------------------------------------------------------------------------


def _show(args: argparse.Namespace, data: Any, printer: Printer | None = None) -> None:
    if args.json or printer is None:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        printer(data)


def _fields(data: dict[str, Any], indent: str = "") -> None:
    width = max((len(key) for key in data), default=0)
    for key, value in data.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _fields(value, indent + "  ")
        else:
            print(f"{indent}{key:<{width}}  {_text(value)}")


def _table(rows: list[dict[str, Any]], columns: Sequence[str], empty: str = "(none)") -> None:
    if not rows:
        print(empty)
        return
    cells = [[_text(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _page(data: dict[str, Any], columns: Sequence[str]) -> None:
    _table(data["items"], columns)
    if data.get("next_cursor"):
        print(f"more: --cursor {data['next_cursor']}")


def _print_config(data: dict[str, Any]) -> None:
    print("releases:")
    _table(data["releases"], ("platform", "min_version", "latest_version", "update_url"))
    maintenance = data["maintenance"]
    state = "ON" if maintenance["enabled"] else "off"
    print(
        f"\nmaintenance: {state}"
        + (f" ({maintenance['message']})" if maintenance["message"] else "")
    )
    print("\nflags:")
    _table(
        data["flags"],
        ("key", "enabled", "rollout_percent", "platforms", "min_app_version", "max_app_version"),
    )


# --- commands -----------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> None:
    _show(args, _call(args, "GET", "/config"), _print_config)


def _releases_set(args: argparse.Namespace) -> None:
    body = {"min_version": args.min, "latest_version": args.latest, "update_url": args.update_url}
    data = _call(args, "PUT", f"/releases/{_quote(args.platform)}", body)
    _show(args, data, _fields)


def _flags_set(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {}
    if args.enabled is not None:
        body["enabled"] = args.enabled
    if args.rollout is not None:
        body["rollout_percent"] = args.rollout
    if args.platforms is not None:
        body["platforms"] = None if args.platforms == "all" else args.platforms.split(",")
    for option, field in (
        ("min_version", "min_app_version"),
        ("max_version", "max_app_version"),
        ("description", "description"),
    ):
        value = getattr(args, option)
        if value is not None:
            body[field] = None if value == "" else value
    _show(args, _call(args, "PATCH", f"/flags/{_quote(args.key)}", body), _fields)


def _flags_delete(args: argparse.Namespace) -> None:
    _call(args, "DELETE", f"/flags/{_quote(args.key)}")
    print(f"flag {args.key} deleted")


def _maintenance(enabled: bool) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        body = {"enabled": enabled, "message": getattr(args, "message", None)}
        _show(args, _call(args, "PUT", "/maintenance", body), _fields)

    return run


def read_documents(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, text) of each document to safelist: a `.graphql` file is one document, sent
    byte for byte as read; a `.json` file is an Apollo persisted query manifest (each
    operation's `body`)."""
    documents: list[tuple[str, str]] = []
    for path in map(Path, paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {path}: {exc}") from exc
        if path.suffix != ".json":
            documents.append((str(path), text))
            continue
        try:
            operations = json.loads(text)["operations"]
            documents.extend(
                (f"{path}#{op.get('name') or index}", op["body"])
                for index, op in enumerate(operations)
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CliError(f"{path} is not an Apollo persisted query manifest") from exc
    if not documents:
        raise CliError("no documents to upload")
    return documents


def _safelist_path(args: argparse.Namespace) -> str:
    return f"/graphql/safelists/{_quote(args.platform)}/{_quote(args.app_version)}"


def _safelist_upload(args: argparse.Namespace) -> None:
    documents = read_documents(args.files)
    names = [name for name, _text in documents]
    body = {"documents": [text for _name, text in documents]}

    def printer(data: dict[str, Any]) -> None:
        count = data["document_count"]
        print(
            f"safelist {data['platform']} {data['app_version']}: {count} "
            f"document{'' if count == 1 else 's'} (+{data['added']} -{data['removed']}), "
            f"digest {data['digest']}"
        )

    answer = _call(args, "PUT", _safelist_path(args), body, document_names=names)
    _show(args, answer, printer)


def _safelist_show(args: argparse.Namespace) -> None:
    def printer(data: dict[str, Any]) -> None:
        _fields({k: v for k, v in data.items() if k != "documents"})
        print()
        _table(data["documents"], ("sha256", "operations"))

    _show(args, _call(args, "GET", _safelist_path(args)), printer)


def _safelist_list(args: argparse.Namespace) -> None:
    params = {"cursor": args.cursor, "limit": args.limit}
    columns = ("platform", "app_version", "document_count", "uploaded_at", "uploaded_by")
    data = _call(args, "GET", "/graphql/safelists", params=params)
    _show(args, data, lambda d: _page(d, columns))


def _safelist_delete(args: argparse.Namespace) -> None:
    _call(args, "DELETE", _safelist_path(args))
    print(f"safelist {args.platform} {args.app_version} lifted: it runs any document again")


def _broadcast(args: argparse.Namespace) -> None:
    data: dict[str, str] = {}
    for pair in args.data or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--data takes key=value, not {pair!r}")
        data[key] = value
    body: dict[str, Any] = {
        "title": args.title,
        "body": args.body,
        "data": data,
        "category": args.category,
        "dry_run": args.dry_run,
        # One key per command: a retry of this call (the CLI's or the network's) sends once.
        "idempotency_key": args.idempotency_key or uuid.uuid4().hex,
    }

    def printer(answer: dict[str, Any]) -> None:
        plural = "" if answer["devices"] == 1 else "s"
        at_least = "at least " if answer["devices_at_least"] else ""
        count = f"{at_least}{answer['devices']} device{plural}"
        if answer["dry_run"]:
            print(f"dry run: a broadcast to {answer['topic']!r} would reach {count}")
            return
        result = answer["broadcast"]
        again = " (already sent with this key)" if result["duplicate"] else ""
        print(f"broadcast {result['broadcast_id']} to {answer['topic']!r}: {count}{again}")
        print(f"idempotency key: {body['idempotency_key']}")

    answer = _call(args, "POST", f"/topics/{_quote(args.topic)}/broadcasts", body)
    _show(args, answer, printer)


def _users_show(args: argparse.Namespace) -> None:
    user = _quote(args.user)
    account = _call(args, "GET", f"/users/{user}")
    sessions = _call(args, "GET", f"/users/{user}/sessions", params={"limit": args.limit})
    devices = _call(args, "GET", f"/users/{user}/devices", params={"limit": args.limit})
    if args.json:
        _show(args, {"user": account, "sessions": sessions, "devices": devices})
        return
    _fields(account)
    print("\nsessions:")
    _page(sessions, ("id", "device_id", "created_at", "last_used_at"))
    print("\ndevices:")
    _page(devices, ("device_id", "platform", "app_version", "updated_at"))


def _users_revoke_session(args: argparse.Namespace) -> None:
    path = f"/users/{_quote(args.user)}/sessions/{_quote(args.session_id)}"
    _show(args, _call(args, "DELETE", path), _fields)


def _users_sign_out(args: argparse.Namespace) -> None:
    _show(args, _call(args, "DELETE", f"/users/{_quote(args.user)}/sessions"), _fields)


def _users_revoke_device(args: argparse.Namespace) -> None:
    path = f"/users/{_quote(args.user)}/devices/{_quote(args.device_id)}"
    _show(args, _call(args, "DELETE", path), _fields)


def _queue(args: argparse.Namespace) -> None:
    params = {"status": args.status, "cursor": args.cursor, "limit": args.limit}

    def printer(data: dict[str, Any]) -> None:
        more = "+" if data["counts_at_least"] else ""
        print(f"queued {data['queued']}{more}, running {data['running']}{more}")
        _page(data, ("id", "status", "owner_id", "model", "created_at", "started_at"))

    _show(args, _call(args, "GET", "/training/queue", params=params), printer)


def _dead_pushes(args: argparse.Namespace) -> None:
    params = {"status": args.status, "cursor": args.cursor, "limit": args.limit}
    columns = ("failed_at", "status", "platform", "owner_id", "source", "attempts", "last_error")
    _show(args, _call(args, "GET", "/pushes/dead", params=params), lambda d: _page(d, columns))


def _audit(args: argparse.Namespace) -> None:
    params = {"action": args.action, "cursor": args.cursor, "limit": args.limit}
    columns = ("at", "token_name", "action", "target", "outcome")
    _show(args, _call(args, "GET", "/audit", params=params), lambda d: _page(d, columns))


def _scopes_of(args: argparse.Namespace) -> list[str]:
    scopes = list(ALL_SCOPES) if args.all_scopes else list(args.scope or [])
    if not scopes:
        raise CliError(f"name scopes with --scope (one of {', '.join(ALL_SCOPES)}) or --all-scopes")
    return scopes


def _tokens_create(args: argparse.Namespace) -> None:
    body = {"name": args.name, "scopes": _scopes_of(args), "ttl_s": int(args.ttl.total_seconds())}
    data = _call(args, "POST", "/tokens", body)
    if args.quiet:
        print(data["token"])
    else:
        _show(args, data, _fields)


def _tokens_bootstrap(args: argparse.Namespace) -> None:
    from bff.admin.bootstrap import mint_in_database  # the database stack, for this command only
    from bff.settings import BffSettings

    minted = asyncio.run(mint_in_database(BffSettings(), args.name, _scopes_of(args), args.ttl))
    if args.quiet:
        print(minted.secret)
        return
    row = minted.row
    print(f"admin token {row.id} ({row.name}), scopes {','.join(row.scopes)}, ")
    print(f"expires {row.expires_at.isoformat()}; shown once:\n{minted.secret}")


def _tokens_list(args: argparse.Namespace) -> None:
    params = {"cursor": args.cursor, "limit": args.limit}
    columns = ("id", "name", "scopes", "expires_at", "revoked_at")
    _show(args, _call(args, "GET", "/tokens", params=params), lambda d: _page(d, columns))


def _tokens_revoke(args: argparse.Namespace) -> None:
    _show(args, _call(args, "DELETE", f"/tokens/{_quote(args.token_id)}"), _fields)


# --- arguments ----------------------------------------------------------------------------


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError("a duration like 90s, 30m, 12h or 30d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _percent(text: str) -> int:
    value = int(text.rstrip("%"))
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("a percentage from 0 to 100")
    return value


def _paged(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cursor", help="the `more:` cursor of the previous page")
    parser.add_argument("--limit", type=int, help="rows per page (1-200)")


def _token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="who or what holds it")
    parser.add_argument("--scope", action="append", choices=ALL_SCOPES, help="repeat for more")
    parser.add_argument("--all-scopes", action="store_true")
    parser.add_argument("--ttl", type=_duration, default=timedelta(days=30), help="default 30d")
    parser.add_argument("--quiet", action="store_true", help="print only the token")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bff.admin", description="Operate Tern through the BFF's admin API."
    )
    parser.add_argument("--url", default=os.environ.get("TERN_ADMIN_URL", DEFAULT_URL))
    parser.add_argument("--token", default=os.environ.get("TERN_ADMIN_TOKEN"))
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    commands = parser.add_subparsers(metavar="command")

    commands.add_parser("config", help="releases, maintenance and flags now").set_defaults(
        run=_config
    )

    releases = commands.add_parser("releases", help="minimum and latest app versions")
    release_commands = releases.add_subparsers(metavar="action", required=True)
    release_set = release_commands.add_parser("set", help="set a platform's versions")
    release_set.add_argument("platform", choices=("ios", "android"))
    release_set.add_argument("--min", help="apps below it get 426 UPGRADE_REQUIRED")
    release_set.add_argument("--latest", help="apps below it are told an update exists")
    release_set.add_argument("--update-url", help="where the app sends the user to update")
    release_set.set_defaults(run=_releases_set)

    flags = commands.add_parser("flags", help="feature flags")
    flag_commands = flags.add_subparsers(metavar="action", required=True)
    flag_set = flag_commands.add_parser("set", help="create or change a flag")
    flag_set.add_argument("key")
    flag_set.add_argument("--rollout", type=_percent, help="percent of devices (stable per device)")
    toggle = flag_set.add_mutually_exclusive_group()
    toggle.add_argument("--enable", dest="enabled", action="store_const", const=True)
    toggle.add_argument("--disable", dest="enabled", action="store_const", const=False)
    flag_set.add_argument("--platforms", help="ios, android, ios,android or all")
    flag_set.add_argument("--min-version", help="lowest app version that sees it ('' clears)")
    flag_set.add_argument("--max-version", help="highest app version that sees it ('' clears)")
    flag_set.add_argument("--description")
    flag_set.set_defaults(run=_flags_set)
    flag_delete = flag_commands.add_parser("delete", help="remove a flag")
    flag_delete.add_argument("key")
    flag_delete.set_defaults(run=_flags_delete)

    maintenance = commands.add_parser("maintenance", help="maintenance mode")
    maintenance_commands = maintenance.add_subparsers(metavar="action", required=True)
    maintenance_on = maintenance_commands.add_parser("on", help="every API call answers 503")
    maintenance_on.add_argument("--message", help="what the app shows")
    maintenance_on.set_defaults(run=_maintenance(True))
    maintenance_commands.add_parser("off").set_defaults(run=_maintenance(False))

    safelist = commands.add_parser(
        "safelist", help="the GraphQL documents an app version may run (trusted documents)"
    )
    safelist_commands = safelist.add_subparsers(metavar="action", required=True)
    upload = safelist_commands.add_parser(
        "upload", help="make these documents the whole safelist of one app build"
    )
    upload.add_argument("platform", choices=("ios", "android"))
    upload.add_argument("app_version", help="as the app sends it in X-App-Version")
    upload.add_argument(
        "files", nargs="+", help=".graphql files (one document each) or an Apollo manifest .json"
    )
    upload.set_defaults(run=_safelist_upload)
    for name, run, help_text in (
        ("show", _safelist_show, "a version's documents, by hash"),
        ("delete", _safelist_delete, "lift a version's safelist (it runs anything again)"),
    ):
        command = safelist_commands.add_parser(name, help=help_text)
        command.add_argument("platform", choices=("ios", "android"))
        command.add_argument("app_version")
        command.set_defaults(run=run)
    safelist_list = safelist_commands.add_parser("list", help="every version with a safelist")
    _paged(safelist_list)
    safelist_list.set_defaults(run=_safelist_list)

    broadcast = commands.add_parser("broadcast", help="push to every device following a topic")
    broadcast.add_argument("topic")
    broadcast.add_argument("--title")
    broadcast.add_argument("--body")
    broadcast.add_argument("--data", action="append", metavar="KEY=VALUE")
    broadcast.add_argument("--category", default="general")
    broadcast.add_argument("--dry-run", action="store_true", help="only count the devices")
    broadcast.add_argument("--idempotency-key", help="reuse one to retry without a double send")
    broadcast.set_defaults(run=_broadcast)

    users = commands.add_parser("users", help="a user's sessions and devices")
    user_commands = users.add_subparsers(metavar="action", required=True)
    show = user_commands.add_parser("show", help="account, sessions and devices")
    show.add_argument("user", help="user id or email")
    show.add_argument("--limit", type=int)
    show.set_defaults(run=_users_show)
    revoke_session = user_commands.add_parser("revoke-session", help="end one session")
    revoke_session.add_argument("user")
    revoke_session.add_argument("session_id")
    revoke_session.set_defaults(run=_users_revoke_session)
    sign_out = user_commands.add_parser("sign-out", help="end every session of the user")
    sign_out.add_argument("user")
    sign_out.set_defaults(run=_users_sign_out)
    revoke_device = user_commands.add_parser(
        "revoke-device", help="end a device's sessions and stop pushing to it"
    )
    revoke_device.add_argument("user")
    revoke_device.add_argument("device_id")
    revoke_device.set_defaults(run=_users_revoke_device)

    queue = commands.add_parser("queue", help="the training queue, every user's")
    queue.add_argument("--status", choices=("queued", "running"))
    _paged(queue)
    queue.set_defaults(run=_queue)

    pushes = commands.add_parser("pushes", help="pushes that will not be retried")
    push_commands = pushes.add_subparsers(metavar="action", required=True)
    dead = push_commands.add_parser("dead", help="failed pushes, or dead tokens")
    dead.add_argument("--status", choices=("failed", "invalid_token"), default="failed")
    _paged(dead)
    dead.set_defaults(run=_dead_pushes)

    audit = commands.add_parser("audit", help="the audit log of admin writes")
    audit.add_argument("--action", help="e.g. flag.set, release.set, token.revoke")
    _paged(audit)
    audit.set_defaults(run=_audit)

    tokens = commands.add_parser("tokens", help="admin tokens")
    token_commands = tokens.add_subparsers(metavar="action", required=True)
    bootstrap = token_commands.add_parser(
        "bootstrap",
        help="mint a token straight into the BFF's database (TERN_BFF_DATABASE_URL or "
        "TERN_BFF_DATA_DIR, as the BFF reads them): the first token",
    )
    _token_options(bootstrap)
    bootstrap.set_defaults(run=_tokens_bootstrap)
    create = token_commands.add_parser("create", help="mint a token through the API")
    _token_options(create)
    create.set_defaults(run=_tokens_create)
    token_list = token_commands.add_parser("list")
    _paged(token_list)
    token_list.set_defaults(run=_tokens_list)
    revoke = token_commands.add_parser("revoke")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=_tokens_revoke)
    return parser
