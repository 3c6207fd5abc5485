"""Command-line tools: flask --app crowdfund <command>."""
import os

import click
from flask import current_app

from crowdfund import accounts
from crowdfund.models import Role


def register_cli(app):
    """Attach the project's commands to the app."""
    register_ledger_cli(app)

    @app.cli.command("create-admin")
    @click.option("--email", prompt=True)
    @click.option("--name", "display_name", prompt="Display name")
    @click.password_option()
    def create_admin(email, display_name, password):
        """Create an administrator, or make an existing account one."""
        if len(password) < accounts.PASSWORD_MIN:
            raise click.BadParameter(f"use at least {accounts.PASSWORD_MIN} characters", param_hint="password")
        try:
            user, created = accounts.ensure_user(email, display_name, password, roles=[Role.ADMIN])
        except accounts.WeakPassword as error:
            raise click.BadParameter(str(error), param_hint="password") from None
        click.echo(f"{'Created' if created else 'Updated'} administrator {user.email}")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load demo accounts and categories (idempotent)."""
        from crowdfund.demo import seed_demo as run

        result = run()
        click.echo(f"demo data: {len(result['users'])} users, {result['categories']} categories and "
                   f"{result['projects']} projects and {result['conversations']} conversations created")

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def serve(host, port):
        """Serve the site with periodic jobs ticking in-process (embedded mode)."""
        from werkzeug.serving import run_simple

        from crowdfund.queueing import EmbeddedTicker

        app = current_app._get_current_object()
        if not os.environ.get("SITE_URL"):  # the sandbox cashier and notify URLs must point at this server
            app.config["SITE_URL"] = f"http://{host}:{port}"
        if not app.config.get("REDIS_URL"):
            EmbeddedTicker(app).start()
        run_simple(host, port, app, threaded=True, use_reloader=False)

    @app.cli.command("tick")
    def tick():
        """Run every periodic job that is due, once (for cron in embedded deployments)."""
        from crowdfund.queueing import run_due

        for name in run_due(current_app._get_current_object()):
            click.echo(f"ran {name}")


def register_ledger_cli(app):
    """`flask --app crowdfund ledger verify`."""
    import sys

    ledger_group = click.Group("ledger", help="The escrow ledger.")

    @ledger_group.command("verify")
    def verify():
        """Recompute the whole hash chain and every balance, record the result; exit non-zero on any mismatch."""
        from crowdfund import ledger

        verification = ledger.record_verification("cli", full=True)
        for problem in verification.problems:
            click.echo(f"PROBLEM: {problem}", err=True)
        if not verification.ok:
            sys.exit(1)
        click.echo(f"ledger verifies ({verification.last_seq} transactions)")

    app.cli.add_command(ledger_group)
