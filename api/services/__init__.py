"""Services beneath the routes: what a request does, apart from HTTP."""
