"""A minimal Django project for the embedding examples (asgi_app.py, uvicorn_app.py, gunicorn.conf.py)."""
