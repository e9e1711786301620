"""The tutorial way to count visits, kept only as the benchmark's baseline: NOT the product.

    gunicorn -c gunicorn.conf.py "devtools.naive_counter:create_app()"

It opens a new database connection for every request, reads the count, adds one in Python
and writes the result back. Two requests that read the same value both write value + 1, so
under concurrency visits are lost; `python -m devtools.bench` shows how many. The product
(the app package's db.py) instead pools connections and increments in one atomic UPDATE.
"""

import os

import psycopg2
from flask import Flask, Response

TABLE_SQL = "CREATE TABLE IF NOT EXISTS naive_counter (id int PRIMARY KEY, count bigint NOT NULL)"
SEED_SQL = "INSERT INTO naive_counter (id, count) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"
READ_SQL = "SELECT count FROM naive_counter WHERE id = 1"
WRITE_SQL = "UPDATE naive_counter SET count = %s WHERE id = 1"
READY_PATH = "/ready"  # answers without touching the database


def create_schema(database_url: str) -> None:
    conn = psycopg2.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(TABLE_SQL)
            cur.execute(SEED_SQL)
    finally:
        conn.close()


def create_app() -> Flask:
    app = Flask(__name__)
    database_url = os.environ["DATABASE_URL"]

    @app.get("/")
    def index() -> Response:
        conn = psycopg2.connect(database_url)  # a new connection per request
        try:
            with conn.cursor() as cur:
                cur.execute(READ_SQL)
                count = cur.fetchone()[0] + 1  # read, add in Python ...
                cur.execute(WRITE_SQL, (count,))  # ... write back: a lost-update race
            conn.commit()
        finally:
            conn.close()
        return Response(f"Page visited {count} times!\n", mimetype="text/plain")

    @app.get(READY_PATH)
    def ready() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
