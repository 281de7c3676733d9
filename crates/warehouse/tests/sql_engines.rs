//! The emitted SQL, run on real engines: DuckDB (its Python package, `python3 -m pip install
//! duckdb`) and PostgreSQL (Debian's `postgresql`, a throwaway cluster started on a free
//! loopback port). Both must agree with the reference implementation to 1e-9 relative, on data
//! holding every edge case (`common::data`), with and without daily rows and CUPED.
//!
//! It runs with the crate's `engines` feature, which `.ci/run` turns on after installing both:
//! `cargo test -p flagstone-warehouse --features engines`.
#![cfg(feature = "engines")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use common::{assert_rows_match, data, definition, to_csv};
use flagstone_warehouse::reference::{reference_rows, sort_rows};
use flagstone_warehouse::rows::{self, Row};
use flagstone_warehouse::sql::{Dialect, render};
use std::path::Path;
use std::process::{Command, Stdio};

const DUCKDB: &str = r#"
import duckdb, sys
exposures, events, query_file, out = sys.argv[1:5]
con = duckdb.connect()
con.execute("CREATE TABLE exposures AS SELECT flag, variant, unit, CAST(time AS TIMESTAMPTZ) AS time FROM read_csv(?, header=true, all_varchar=true)", [exposures])
con.execute("CREATE TABLE events AS SELECT unit, metric, CAST(value AS DOUBLE) AS value, CAST(time AS TIMESTAMPTZ) AS time FROM read_csv(?, header=true, all_varchar=true)", [events])
query = open(query_file).read()
con.execute("COPY (" + query + ") TO '" + out + "' (HEADER, DELIMITER ',')")
"#;

fn engine_rows(name: &str, csv: &str) -> Vec<Row> {
    let mut rows = rows::from_csv(name, csv).unwrap();
    sort_rows(&mut rows);
    rows
}

fn run_duckdb(dir: &Path, query: &str) -> Vec<Row> {
    let query_file = dir.join("query.sql");
    std::fs::write(&query_file, query).unwrap();
    let out = dir.join("duckdb-rows.csv");
    let run = Command::new("python3")
        .arg("-c")
        .arg(DUCKDB)
        .arg(dir.join("exposures.csv"))
        .arg(dir.join("events.csv"))
        .arg(&query_file)
        .arg(&out)
        .output()
        .expect("python3 runs (the DuckDB tests need python3 and `pip install duckdb`)");
    assert!(run.status.success(), "duckdb: {}\n{query}", String::from_utf8_lossy(&run.stderr));
    engine_rows("duckdb", &std::fs::read_to_string(&out).unwrap())
}

/// A throwaway PostgreSQL cluster in a temporary directory, stopped on drop.
struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

fn bin(name: &str) -> String {
    // Debian keeps the server's programs out of PATH.
    for dir in
        ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]
    {
        let path = format!("{dir}/{name}");
        if Path::new(&path).exists() {
            return path;
        }
    }
    name.to_owned()
}

impl Postgres {
    fn command(&self, program: &str) -> Command {
        // The server refuses to run as root: run it as Debian's `postgres` user then.
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }

    fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let root = Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&root.stdout).trim() == "0";
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Postgres { dir, port, as_postgres };
        if as_postgres {
            let ok = Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(pg.dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = pg.dir.path().join("data");
        let init = pg
            .command(&bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "flagstone", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs (the Postgres tests need Debian's postgresql package)");
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c timezone=UTC",
            pg.port,
            pg.dir.path().display()
        );
        let start = pg
            .command(&bin("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-w", "-l"])
            .arg(pg.dir.path().join("log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(start.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&start.stderr));
        pg
    }

    fn psql(&self, sql: &str) -> String {
        let run = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "flagstone",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-c", sql])
            .output()
            .unwrap();
        assert!(run.status.success(), "psql: {}\n{sql}", String::from_utf8_lossy(&run.stderr));
        String::from_utf8(run.stdout).unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn load_postgres(pg: &Postgres, dir: &Path) {
    pg.psql("CREATE TABLE exposures (flag TEXT, variant TEXT, unit TEXT, time TIMESTAMPTZ)");
    pg.psql(
        "CREATE TABLE events (unit TEXT, metric TEXT, value DOUBLE PRECISION, time TIMESTAMPTZ)",
    );
    pg.psql(&format!("\\copy exposures FROM '{}' CSV HEADER", dir.join("exposures.csv").display()));
    pg.psql(&format!("\\copy events FROM '{}' CSV HEADER", dir.join("events.csv").display()));
}

fn run_postgres(pg: &Postgres, query: &str) -> Vec<Row> {
    let out = pg.psql(&format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"));
    engine_rows("postgres", &out)
}

fn scratch()
-> (tempfile::TempDir, Vec<flagstone_core::exposure::Exposure>, Vec<flagstone_warehouse::Event>) {
    let dir = tempfile::tempdir().unwrap();
    let (exposures, events) = data(400, 7);
    let (x, v) = to_csv(&exposures, &events);
    std::fs::write(dir.path().join("exposures.csv"), x).unwrap();
    std::fs::write(dir.path().join("events.csv"), v).unwrap();
    (dir, exposures, events)
}

const CASES: [(bool, bool); 3] = [(false, false), (false, true), (true, true)];

#[test]
fn duckdb_agrees_with_the_reference() {
    let (dir, exposures, events) = scratch();
    for (by_day, cuped) in CASES {
        let def = definition(by_day, cuped);
        let expected = reference_rows(exposures.clone(), events.clone(), &def).unwrap();
        let query = render(Dialect::DuckDb, "exposures", "events", &def).unwrap();
        let actual = run_duckdb(dir.path(), &query);
        assert_rows_match(&format!("duckdb by_day={by_day} cuped={cuped}"), &expected, &actual);
    }
}

#[test]
fn postgres_agrees_with_the_reference() {
    let (dir, exposures, events) = scratch();
    let pg = Postgres::start();
    load_postgres(&pg, dir.path());
    for (by_day, cuped) in CASES {
        let def = definition(by_day, cuped);
        let expected = reference_rows(exposures.clone(), events.clone(), &def).unwrap();
        let query = render(Dialect::Postgres, "exposures", "events", &def).unwrap();
        let actual = run_postgres(&pg, &query);
        assert_rows_match(&format!("postgres by_day={by_day} cuped={cuped}"), &expected, &actual);
    }
}
