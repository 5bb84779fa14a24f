"""Create Superset's admin login, or set its password, from the environment (run with Superset's
own Python by `credit-platform up`). The password comes from `SUPERSET_ADMIN_PASSWORD`, never from
the command line, where other users of the machine could read it."""

import os
import sys

from superset.app import create_app

username = os.environ["SUPERSET_ADMIN_USER"]
password = os.environ["SUPERSET_ADMIN_PASSWORD"]

app = create_app()
with app.app_context():
    from superset import db, security_manager

    admin_role = security_manager.find_role("Admin")
    if admin_role is None:
        sys.exit("the Admin role is missing: `superset init` has not run")
    user = security_manager.find_user(username=username)
    if user is None:
        if not security_manager.add_user(username, "Platform", "Admin", f"{username}@localhost", admin_role,
                                         password=password):
            sys.exit(f"could not create the Superset user {username}")
        print(f"created Superset user {username}")
    else:
        security_manager.reset_password(user.id, password)
        if admin_role not in user.roles:
            user.roles.append(admin_role)
        db.session.commit()
        print(f"Superset user {username}: password set")
