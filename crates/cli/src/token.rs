//! `flagstone token new`: a fresh random token and the line to add to the token file.

use crate::exit::bad_input;
use clap::{Args, Subcommand};
use flagstone_server::{NamespaceName, Scope};

/// Arguments of `flagstone token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new token once, then its token-file entry (which holds only its SHA-256).
    New(NewArgs),
}

#[derive(Debug, Args)]
struct NewArgs {
    /// A name for logs and the history.
    #[arg(long)]
    id: String,
    /// project/environment, or * for every namespace.
    #[arg(long)]
    namespace: String,
    /// evaluate, read, write or admin (repeatable).
    #[arg(long = "scope", required = true, value_parser = parse_scope)]
    scopes: Vec<Scope>,
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    match text {
        "evaluate" => Ok(Scope::Evaluate),
        "read" => Ok(Scope::Read),
        "write" => Ok(Scope::Write),
        "admin" => Ok(Scope::Admin),
        _ => Err(format!("{text:?}: expected evaluate, read, write or admin")),
    }
}

/// Runs `flagstone token`.
pub fn run(args: &TokenArgs) -> anyhow::Result<()> {
    let TokenCommand::New(args) = &args.command;
    if args.namespace != "*" {
        NamespaceName::parse(&args.namespace).map_err(|e| bad_input(format!("--namespace {e}")))?;
    }
    if args.id.is_empty() {
        return Err(bad_input("--id: expected a non-empty id"));
    }
    let (token, entry) =
        flagstone_server::auth::new_token(&args.id, &args.namespace, args.scopes.clone());
    println!("{token}");
    println!("{}", serde_json::to_string(&entry)?);
    eprintln!(
        "the first line is the token: it is shown only now; add the second line to the \"tokens\" array of the token file"
    );
    Ok(())
}
