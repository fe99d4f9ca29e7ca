"""Run SQL on DuckDB for the tests: a JSON request on stdin, the rows of each query as JSON on stdout.

Request: {"setup": ["CREATE VIEW ...", ...], "queries": [{"sql": "...", "params": [...]}, ...]}
Answer:  [[row, ...], ...] with each row a list of values (timestamps and decimals as strings).
An error in any statement exits non-zero with the statement and DuckDB's message on stderr.
"""

import json
import sys

import duckdb


def main() -> int:
    request = json.load(sys.stdin)
    con = duckdb.connect()
    for sql in request.get("setup", []):
        try:
            con.execute(sql)
        except duckdb.Error as e:
            print(f"setup statement failed: {e}\n{sql}", file=sys.stderr)
            return 1
    answers = []
    for q in request.get("queries", []):
        try:
            rows = con.execute(q["sql"], q.get("params", [])).fetchall()
        except duckdb.Error as e:
            print(f"query failed: {e}\n{q['sql']}", file=sys.stderr)
            return 1
        answers.append([list(r) for r in rows])
    json.dump(answers, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
