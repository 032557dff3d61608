"""The `idp` command: serve, clients, users and keys (the automation contract of issue 2).

Every command exits non-zero with a one-line message on bad input and changes nothing; one that
fails on the way (an SMS gateway or mail relay down) changes nothing either, but the audit trail.
"""
import argparse
import getpass
import ipaddress
import json
import os
import socket
import sys
import unicodedata
from datetime import datetime, timedelta, timezone

from tenants import TenantConfigError, load_tenants
from .config import DATABASE_FILE, instance_path, load_settings
from .text import encodes


class CommandError(Exception):
    def __init__(self, message, code=2):  # 2: bad input; 1: the machine's fault (a store down)
        super().__init__(message)
        self.code = code


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already told in one line
        return exc.code
    try:
        _check_text(args)
        _check_tenant(args)
        _check_instance(args)
        return args.handler(args) or 0
    except (CommandError, ValueError) as exc:  # ClientError, AccountError ...: bad input
        return _fail(str(exc), getattr(exc, "code", 2))
    except TenantConfigError as exc:  # names file, field and reason
        return _fail(str(exc), 1)
    except KeyboardInterrupt:  # Ctrl-C during start-up or a command: whatever was done is whole
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - an unreachable store, ...
        return _fail(f"{type(exc).__name__}: {exc}", 1)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, as every other refusal; the usage is in --help
        self.exit(2, f"idp: {message} (see {self.prog} --help)\n")


_OPTION = {"identity_type": "type"}  # an option whose dest is not its name


def _check_text(args):
    """Every text option is UTF-8 without control characters, checked before anything is done:
    the command line passes bytes that are not UTF-8 through as lone surrogates, which the
    database or the audit trail would refuse only after part of the work was written. --jwks is
    JSON, where line breaks are whitespace."""
    for dest, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str) or dest == "jwks":
                continue
            option = "--" + _OPTION.get(dest, dest).replace("_", "-")
            if not encodes(text):
                raise CommandError(f"{option} is not valid UTF-8 text")
            if any(unicodedata.category(c) == "Cc" for c in text):
                raise CommandError(f"{option} holds a control character (a tab or line break, say)")


def _check_tenant(args):
    """An unknown --tenant is refused before the instance is touched: on a fresh machine the
    provider would otherwise make its secret key, database and signing keys first."""
    if getattr(args, "tenant", None):
        _tenant(load_tenants(os.environ.get("IDP_TENANTS_DIR") or None), args.tenant)


def _check_instance(args):
    """Every command but serve works on a provider's existing data. With nothing set (a shell
    without the deployment's environment, in some directory), it would make a new, empty
    database under ./instance and report success on that: a user made there never gets their
    temporary password, a sweep finds nothing. Where IDP_DATABASE_URL or IDP_INSTANCE_DIR says
    where the data is, a first command may make it."""
    if args.handler in (cmd_serve, cmd_tenants_check) or os.environ.get("IDP_DATABASE_URL") \
            or os.environ.get("IDP_INSTANCE_DIR"):
        return
    database = instance_path() / DATABASE_FILE
    if not database.exists():
        raise CommandError(f"no provider's database at {database}, and neither IDP_DATABASE_URL nor IDP_INSTANCE_DIR "
                           "is set: run in the provider's environment (docs/OPERATIONS.md) or where it ran")


def _fail(message: str, code: int) -> int:
    # one line: driver errors (SQLAlchemy, psycopg) append hints and links on further lines
    first = next((line for line in message.splitlines() if line.strip()), "failed")
    print(f"idp: {first.strip()}", file=sys.stderr)
    return code


def _parser():
    parser = _Parser(prog="idp", description="Identity provider for public-service portals")
    sub = parser.add_subparsers(required=True, metavar="command")

    serve = sub.add_parser("serve", help="run the provider")
    serve.add_argument("--host", default="127.0.0.1", help="an IP address to listen on (0.0.0.0: all)")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--workers", type=_count, help="worker processes (default $IDP_WORKERS, else 1)")
    serve.add_argument("--production", action="store_true", help="granian with one worker per core")
    serve.set_defaults(handler=cmd_serve)

    client = sub.add_parser("client", help="manage clients").add_subparsers(required=True, metavar="action")
    create = client.add_parser("create", help="register a client (prints it as JSON, secret once)")
    create.add_argument("--secret")
    create.add_argument("--auth-method", default="client_secret_basic")
    _client_options(create, CLIENT_DEFAULTS)
    _operator_option(create)
    create.set_defaults(handler=cmd_client_create)
    update = client.add_parser("update", help="change a client's registration: each option given replaces "
                                              "what is registered (a repeated one, the whole list)")
    _client_options(update, {})
    update.add_argument("--auth-method", help="another confidential method: to private_key_jwt with --jwks, "
                                              "the secret ends; from it, a new secret is printed once")
    update.add_argument("--secret", help="the new secret when leaving private_key_jwt (default: generated)")
    update.add_argument("--clear", action="append", default=[], choices=sorted(CLEARABLE),
                        help="remove what is registered for this option (repeatable)")
    _operator_option(update)
    update.set_defaults(handler=cmd_client_update)
    for action, what in (("rotate-secret", "a new secret (printed once); the old one is refused within 5 s"),
                         ("delete", "end a client: its codes, refresh tokens and authentication fail; "
                                    "its id is not reused")):
        one = client.add_parser(action, help=what)
        one.add_argument("--tenant", required=True)
        one.add_argument("--client-id", required=True)
        if action == "rotate-secret":
            one.add_argument("--secret", help="the new secret (default: generated)")
        _operator_option(one)
        one.set_defaults(handler=cmd_client_change, action=action)
    clients = client.add_parser("list", help="a tenant's clients as registered (no secrets)")
    clients.add_argument("--tenant", required=True)
    clients.set_defaults(handler=cmd_client_list)

    tenants = sub.add_parser("tenants", help="tenant definitions").add_subparsers(required=True, metavar="action")
    check = tenants.add_parser("check", help="read the tenant files as a start would, and change nothing")
    check.add_argument("--dir", help="the definitions (default $IDP_TENANTS_DIR, else tenants/definitions/)")
    check.set_defaults(handler=cmd_tenants_check)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(required=True, metavar="action")
    ucreate = user.add_parser("create", help="create an account (prints it as JSON)")
    ucreate.add_argument("--tenant", required=True)
    ucreate.add_argument("--username", required=True)
    ucreate.add_argument("--type", required=True, dest="identity_type")
    creds = ucreate.add_mutually_exclusive_group(required=True)
    creds.add_argument("--password")
    creds.add_argument("--temporary", action="store_true")
    for name in ("phone", "email", "name", "national-id", "org", "member-number", "employer-number", "locale"):
        ucreate.add_argument(f"--{name}")
    _operator_option(ucreate)
    ucreate.set_defaults(handler=cmd_user_create)

    keys = sub.add_parser("keys", help="manage signing keys").add_subparsers(required=True, metavar="action")
    rotate = keys.add_parser("rotate", help="advance the rotation: stage new keys, or promote staged ones")
    rotate.add_argument("--tenant", required=True)
    _operator_option(rotate)
    rotate.set_defaults(handler=cmd_keys_rotate)
    listing = keys.add_parser("list", help="show a tenant's keys")
    listing.add_argument("--tenant", required=True)
    listing.set_defaults(handler=cmd_keys_list)

    org = sub.add_parser("org", help="manage organisations").add_subparsers(required=True, metavar="action")
    ocreate = org.add_parser("create", help="register an employer or a dialysis centre")
    ocreate.add_argument("--tenant", required=True)
    ocreate.add_argument("--kind", required=True, choices=["employer", "dialysis_centre"])
    ocreate.add_argument("--number", required=True, help="employer number or centre code")
    ocreate.add_argument("--name", required=True)
    _operator_option(ocreate)
    ocreate.set_defaults(handler=cmd_org_create)

    accounts = sub.add_parser("accounts", help="helpdesk actions on accounts").add_subparsers(
        required=True, metavar="action")
    for action in ("unlock", "reactivate", "deactivate", "terminate", "reissue", "show"):
        one = accounts.add_parser(action, help=f"{action} an account")
        one.add_argument("--tenant", required=True)
        one.add_argument("--username", required=True)
        if action != "show":  # the audit trail names who did it (docs/HELPDESK.md)
            one.add_argument("--actor", required=True, help="who does it, e.g. helpdesk:<staff id>")
        one.set_defaults(handler=cmd_account_action, action=action)
    phone = accounts.add_parser("set-phone", help="change a mobile number at a counter (the old number is told)")
    phone.add_argument("--tenant", required=True)
    phone.add_argument("--username", required=True)
    phone.add_argument("--phone", required=True)
    phone.add_argument("--actor", required=True, help="who does it, e.g. counter:<staff id>")
    phone.set_defaults(handler=cmd_account_action, action="set_phone")
    tac = accounts.add_parser("clear-tac", help="lift today's TAC, reset-link and user-ID caps, the hour's block on "
                                                "activation codes, and any block after wrong codes")
    tac.add_argument("--tenant", required=True)
    tac.add_argument("--username", required=True)
    tac.add_argument("--actor", required=True, help="who does it, e.g. helpdesk:<staff id>")
    tac.set_defaults(handler=cmd_account_action, action="clear_tac")
    sweep = accounts.add_parser("sweep", help="periodic job: mark dormant accounts, lift expired locks")
    sweep.add_argument("--tenant", help="one tenant (default: all)")
    sweep.set_defaults(handler=cmd_accounts_sweep)
    return parser


CLEARABLE = {"name": "client_name", "post-logout-redirect-uri": "post_logout_redirect_uris",
             "backchannel-logout-uri": "backchannel_logout_uri"}  # an option of update -> what it empties
CLIENT_DEFAULTS = {"redirect_uri": [], "post_logout_redirect_uri": [], "id_token_alg": "RS256",
                   "scope": "openid profile email phone offline_access", "access_token_format": "jwt",
                   "require_pkce": False, "resource_server": False}


def _operator_option(parser):
    parser.add_argument("--actor", help="who does it, for the audit trail (default: cli:<login name>)")


def _operator(args) -> str:
    """Who ran a command, as the audit trail records it."""
    if args.actor:
        return args.actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a uid with no passwd entry, as in some containers
        return f"cli:uid {os.getuid()}"


def _client_options(parser, defaults):
    """A client's registration options: with create's defaults, or none (update keeps what is there)."""
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--name")
    parser.add_argument("--redirect-uri", action="append", default=defaults.get("redirect_uri"))
    parser.add_argument("--post-logout-redirect-uri", action="append", default=defaults.get("post_logout_redirect_uri"))
    parser.add_argument("--backchannel-logout-uri")
    parser.add_argument("--grant-type", action="append")
    parser.add_argument("--scope", default=defaults.get("scope"))
    parser.add_argument("--jwks", help="the client's public JWKS (JSON) for private_key_jwt")
    parser.add_argument("--id-token-alg", default=defaults.get("id_token_alg"))
    parser.add_argument("--access-token-format", default=defaults.get("access_token_format"), choices=["jwt", "opaque"])
    parser.add_argument("--require-pkce", action=argparse.BooleanOptionalAction, default=defaults.get("require_pkce"),
                        help="PKCE (S256) on every authorization request")
    parser.add_argument("--resource-server", action=argparse.BooleanOptionalAction,
                        default=defaults.get("resource_server"),
                        help="an API's client: may introspect any access token of the tenant")


def _provider():
    from .provider import Provider
    return Provider(load_settings())


def _provider_and_tenant(args):
    provider = _provider()
    return provider, _tenant(provider.tenants, args.tenant)


def _tenant(tenants, tenant_id):
    if tenant_id not in tenants:
        raise CommandError(f"unknown tenant {tenant_id!r}; known: {', '.join(sorted(tenants))}")
    return tenants[tenant_id]


def _port(text):
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _count(text, what="a count"):
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 1024):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what} (1-1024)")
    return int(text)


def _from_environment(name):
    try:
        return _count(os.environ.get(name) or "1", f"a count for {name}")
    except argparse.ArgumentTypeError as exc:
        raise CommandError(str(exc)) from None


def _local_url(host, port) -> str | None:
    """Without IDP_PUBLIC_URL the issuers are where this server answers on this machine (on
    another port than 8000 too): its own address, loopback for a wildcard one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # refused by _check_listen
    if not (address.is_loopback or address.is_unspecified):
        return None  # reached from elsewhere: IDP_PUBLIC_URL must say by which https URL
    return f"http://127.0.0.1:{port}" if address.version == 4 else f"http://[::1]:{port}"


def _check_listen(host, port):
    """Refused here, in one line, before the "serving" line: granian would print it first and
    fail after, with a traceback. A listener already there holds the port even with SO_REUSEADDR."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        raise CommandError(f"--host {host!r} must be an IP address (127.0.0.1, 0.0.0.0, ::1)") from None
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None


def cmd_serve(args):
    from granian import Granian
    from granian.constants import Interfaces
    workers = (os.cpu_count() or 1) if args.production else args.workers or _from_environment("IDP_WORKERS")
    threads = _from_environment("IDP_THREADS")
    if not os.environ.get("IDP_PUBLIC_URL") and (local := _local_url(args.host, args.port)):
        os.environ["IDP_PUBLIC_URL"] = local  # the workers inherit it
    _provider()  # a broken tenant file or setting first; migrate and generate keys once, before workers start
    _check_listen(args.host, args.port)
    settings = load_settings()
    print(f"idp: serving {settings['IDP_PUBLIC_URL']}/t/<tenant> on http://{args.host}:{args.port} "
          f"({workers} worker(s), database {settings['IDP_DATABASE_URL'].split('://')[0]}, "
          f"ephemeral store {'redis' if settings['IDP_REDIS_URL'] else 'embedded'})", flush=True)
    os.environ.setdefault("IDP_INSTANCE_DIR", settings["IDP_INSTANCE_DIR"])
    # Ctrl-C (and systemd's stop) signal the workers as well as the main process; a granian worker
    # signalled twice can hang in its shutdown, so one that is not gone after 5 s is killed.
    # One Python thread per worker process (one worker per core): more threads only fight over
    # the GIL and SQLite's write lock, costing throughput and tail latency (docs/BENCHMARKS.md);
    # requests beyond it wait in granian's queue, up to `backpressure` per worker. IDP_THREADS
    # raises it where requests wait on slow outside services (docs/OPERATIONS.md).
    Granian("idp.wsgi:app", address=args.host, port=args.port, interface=Interfaces.WSGI,
            workers=workers, blocking_threads=threads,
            backpressure=128, websockets=False,
            workers_kill_timeout=5).serve()


def cmd_tenants_check(args):
    directory = args.dir or os.environ.get("IDP_TENANTS_DIR") or None
    tenants = load_tenants(directory)  # a mistake: TenantConfigError, naming file, setting and reason
    print(json.dumps({"tenants": sorted(tenants), "files": [t.source for t in tenants.values()]}))


def cmd_client_create(args):
    from .clients import build_metadata
    provider, tenant = _provider_and_tenant(args)
    metadata = build_metadata(auth_method=args.auth_method, **_given_client_options(args, creating=True))
    created = provider.clients.create(tenant.id, args.client_id, metadata, secret=args.secret)
    provider.audit.record(tenant.id, "client.created", actor=_operator(args), client_id=args.client_id)
    print(json.dumps(created))


def cmd_client_update(args):
    from .clients import build_metadata, metadata_arguments
    provider, tenant = _provider_and_tenant(args)
    registered = provider.clients.registration(tenant.id, args.client_id)
    given = _given_client_options(args)
    if args.auth_method:
        given["auth_method"] = args.auth_method
        if args.auth_method != "private_key_jwt":
            given.setdefault("jwks", None)  # the keys go with private_key_jwt; a --jwks given is refused
    for option in args.clear:
        if CLEARABLE[option] in given:
            raise CommandError(f"--clear {option} and --{option} together: which one is meant?")
        given[CLEARABLE[option]] = [] if option == "post-logout-redirect-uri" else None
    metadata = build_metadata(**{**metadata_arguments(registered), **given})
    updated = provider.clients.update(tenant.id, args.client_id, metadata, secret=args.secret)
    provider.audit.record(tenant.id, "client.updated", actor=_operator(args), client_id=args.client_id,
                          changed=sorted(k for k in metadata if metadata[k] != registered.get(k)))
    print(json.dumps(updated))


def _given_client_options(args, creating=False) -> dict:
    """build_metadata's arguments from the options given (update: only those)."""
    try:
        jwks = json.loads(args.jwks) if args.jwks else None
    except ValueError:
        raise CommandError("--jwks is not valid JSON") from None
    given = {"redirect_uris": args.redirect_uri, "post_logout_redirect_uris": args.post_logout_redirect_uri,
             "backchannel_logout_uri": args.backchannel_logout_uri, "scope": args.scope, "jwks": jwks,
             "grant_types": args.grant_type or (["authorization_code", "refresh_token"] if creating else None),
             "id_token_alg": args.id_token_alg, "access_token_format": args.access_token_format,
             "client_name": args.name, "require_pkce": args.require_pkce, "resource_server": args.resource_server}
    return given if creating else {k: v for k, v in given.items() if v is not None}


def cmd_client_change(args):
    provider, tenant = _provider_and_tenant(args)
    if args.action == "delete":
        provider.clients.delete(tenant.id, args.client_id)
        result = {"client_id": args.client_id, "deleted": True}
    else:
        result = provider.clients.rotate_secret(tenant.id, args.client_id, args.secret)
    provider.audit.record(tenant.id, "client.deleted" if args.action == "delete" else "client.secret_rotated",
                          actor=_operator(args), client_id=args.client_id)
    print(json.dumps(result))


def cmd_client_list(args):
    provider, tenant = _provider_and_tenant(args)
    print(json.dumps({"tenant": tenant.id, "clients": provider.clients.registrations(tenant.id)}))


def cmd_user_create(args):
    from .lifecycle import create_account
    provider, tenant = _provider_and_tenant(args)
    attributes = {k: getattr(args, k) for k in ("phone", "email", "name", "national_id", "member_number",
                                                "employer_number", "locale")}
    attributes["organisation_id"] = args.org
    out = create_account(provider, tenant, username=args.username, identity_type=args.identity_type,
                         password=args.password, temporary=args.temporary, actor=_operator(args), **attributes)
    print(json.dumps(out, default=str))


def cmd_keys_rotate(args):
    from keys import JWKS_MAX_AGE, KeyState, promotable_at, rotate
    from .keystore import SqlKeyStore
    from .storage.db import starting_alone
    provider, tenant = _provider_and_tenant(args)
    # a worker loads rotated keys within IDP_KEY_REFRESH_SECONDS and a relying party may cache
    # the JWKS for JWKS_MAX_AGE: new keys sign only once both have seen them, and a retired key
    # stays published until the last token a worker may have signed with it has expired
    lag = timedelta(seconds=provider.settings["IDP_KEY_REFRESH_SECONDS"] + JWKS_MAX_AGE)
    with starting_alone(provider.database) as start:  # two rotations at once would stage twice
        step = rotate(SqlKeyStore(start), tenant.id, provider.master, datetime.now(timezone.utc),
                      retention=tenant.key_retention() + lag, publish_first=lag,
                      keep_after=tenant.tokens.session_lifetime)
    provider.audit.record(tenant.id, "keys.rotated", actor=_operator(args), step=step)
    result = {"tenant": tenant.id, "step": step, "keys": _key_rows(provider, tenant)}
    if step == "waiting":
        staged = [k for k in provider.key_store.list_keys(tenant.id) if k.state is KeyState.STAGED]
        result["promotable_after"] = promotable_at(staged, lag).isoformat()
    print(json.dumps(result))


def cmd_keys_list(args):
    provider, tenant = _provider_and_tenant(args)
    print(json.dumps({"tenant": tenant.id, "keys": _key_rows(provider, tenant)}))


def cmd_org_create(args):
    provider, tenant = _provider_and_tenant(args)
    created = provider.organisations.create(tenant.id, args.kind, args.number, args.name)
    provider.audit.record(tenant.id, "organisation.created", actor=_operator(args), number=args.number)
    print(json.dumps(created))


def cmd_account_action(args):
    from .lifecycle import _public
    provider, tenant = _provider_and_tenant(args)
    account = provider.accounts.find(tenant.id, args.username)
    if account is None:
        raise CommandError(f"no account {args.username!r} in tenant {tenant.id!r}")
    if args.action == "show":
        trail = [{"at": e.at.isoformat(), "event": e.event, "outcome": e.outcome, "actor": e.actor, "ip": e.ip,
                  "detail": e.detail} for e in provider.audit.events(tenant.id, subject=account.id)]
        print(json.dumps({**_public(account), "audit": trail}, default=str))
        return
    _store_reachable(provider)
    extra = {"phone": args.phone} if args.action == "set_phone" else {}
    result = getattr(provider.lifecycle, args.action)(tenant, account, actor=args.actor, **extra)
    print(json.dumps(result if isinstance(result, dict) else _public(result), default=str))


def _store_reachable(provider):
    """A helpdesk action writes the account, then ends sessions and grants (or counts) in the
    ephemeral store: asked first, so that a store that is down refuses the action whole instead
    of leaving it half done, and unrepeatable (terminated twice is refused)."""
    try:
        provider.store.ping()
    except Exception as exc:  # noqa: BLE001 - redis-py's or the database's own error
        raise CommandError(f"the ephemeral store is unreachable, nothing was changed ({exc})", 1) from None


def cmd_accounts_sweep(args):
    provider = _provider()
    tenants = [_tenant(provider.tenants, args.tenant)] if args.tenant else list(provider.tenants.values())
    print(json.dumps({t.id: provider.lifecycle.sweep(t) for t in tenants}))


def _key_rows(provider, tenant):
    return [{"kid": k.kid, "alg": k.alg, "state": k.state.value, "created_at": k.created_at.isoformat(),
             "retire_after": k.retire_after.isoformat() if k.retire_after else None}
            for k in provider.key_store.list_keys(tenant.id)]


if __name__ == "__main__":
    sys.exit(main())
