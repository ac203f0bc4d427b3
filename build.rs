//! Rebuilds the binary when a migration is added: `sqlx::migrate!` embeds the files it finds at
//! compile time, and cargo would not otherwise notice a new file in `migrations/`.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
