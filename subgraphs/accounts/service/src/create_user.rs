//! `accounts create-user`: an account with any role (self-registration only makes
//! customers), for the operator who creates the first admin. The password is read from
//! `ACCOUNT_PASSWORD`, so it never shows in the process list or the shell's history.

use std::sync::Arc;

use accounts_domain::{DisplayName, Email, Password, Role};
use clap::Parser;
use futures::future::BoxFuture;
use kernel_infra::context::{Context, Task, downcast};

use crate::Accounts;
use crate::accounts::Registration;

pub const TASK: Task = Task {
    name: "create-user",
    about: "Create an account with a given role; the password comes from ACCOUNT_PASSWORD",
    run,
};

#[derive(Parser)]
#[command(name = "create-user")]
struct Args {
    #[arg(long)]
    email: String,
    #[arg(long)]
    display_name: String,
    /// CUSTOMER, ADMIN or PARTNER.
    #[arg(long, default_value = "CUSTOMER")]
    role: String,
}

fn run(args: Vec<String>, context: Arc<dyn Context>) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let args = Args::try_parse_from(std::iter::once("create-user".to_owned()).chain(args))?;
        let password = std::env::var("ACCOUNT_PASSWORD").map_err(|_| anyhow::anyhow!("set ACCOUNT_PASSWORD"))?;
        let registration = Registration {
            email: Email::parse(&args.email)?,
            display_name: DisplayName::parse(&args.display_name)?,
            password: Password::new(&password)?,
            role: Role::parse(&args.role)
                .filter(|role| *role != Role::Service)
                .ok_or_else(|| anyhow::anyhow!("role must be CUSTOMER, ADMIN or PARTNER"))?,
        };
        let accounts = downcast::<Accounts>(context.as_ref()).ok_or_else(|| anyhow::anyhow!("not Accounts"))?;
        let (user, _) = accounts
            .accounts
            .register(registration, &kernel::EventMeta::internal(), None)
            .await?;
        println!("created {} ({})", user.state().id, user.state().role);
        Ok(())
    })
}
