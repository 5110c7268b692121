//! `surreal`: the SurrealDB server, as the `surrealdb-server` crate's CLI (`surreal start
//! --bind 127.0.0.1:8000 --user root --pass root memory`, or `surrealkv://DIR`). The crate is
//! a library with no binary; this is the binary.

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
