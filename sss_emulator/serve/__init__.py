"""``sss-emulate serve``: the ``/scripting`` HTTP API, logins, run history and the browser page."""
