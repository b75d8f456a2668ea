"""The Dash command centre: app shell, one module per page, pure figure builders and
one data-access module."""
