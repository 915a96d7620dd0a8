//! `accounts`: the Accounts subgraph on its own.
//!
//! - `accounts sdl` prints the subgraph's SDL.
//! - `accounts create-user --email … --display-name … --role ADMIN` creates an account
//!   with any role (self-registration only makes customers); the password is read from
//!   `ACCOUNT_PASSWORD`.
//! - Without a subcommand it serves GraphQL on `--listen`.

use accounts_domain::{DisplayName, Email, Password, Role};
use accounts_service::accounts::Registration;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "accounts", about = "The Accounts subgraph (users, sign-in)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(long, env = "ACCOUNTS_DATABASE_URL", default_value = accounts_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "ACCOUNTS_LISTEN", default_value = "127.0.0.1:4003")]
    listen: String,
}

#[derive(Subcommand)]
enum Command {
    /// Print the subgraph's SDL.
    Sdl,
    /// Create an account with a given role; the password comes from ACCOUNT_PASSWORD.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
        #[arg(long, default_value = "CUSTOMER")]
        role: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Sdl) => {
            print!("{}", accounts_service::sdl());
            Ok(())
        }
        Some(Command::CreateUser {
            email,
            display_name,
            role,
        }) => {
            let password = std::env::var("ACCOUNT_PASSWORD").map_err(|_| anyhow::anyhow!("set ACCOUNT_PASSWORD"))?;
            let registration = Registration {
                email: Email::parse(&email)?,
                display_name: DisplayName::parse(&display_name)?,
                password: Password::new(&password)?,
                role: Role::parse(&role)
                    .filter(|role| *role != Role::Service)
                    .ok_or_else(|| anyhow::anyhow!("role must be CUSTOMER, ADMIN or PARTNER"))?,
            };
            let accounts = accounts_service::Accounts::open(&cli.database_url).await?;
            let (user, _) = accounts
                .accounts
                .register(registration, &kernel::EventMeta::internal())
                .await?;
            println!("created {} ({})", user.state().id, user.state().role);
            Ok(())
        }
        None => {
            kernel_infra::server::init_logging();
            let accounts = accounts_service::Accounts::open(&cli.database_url).await?;
            kernel_infra::server::run_standalone("accounts", accounts.router(), &cli.listen).await
        }
    }
}
