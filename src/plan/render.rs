//! Output of the plan: a readable list for people, JSON for machines.

use serde_json::{Value, json};

use super::{Action, Plan, TrunkPlan};

/// Output format of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per trunk plus indented details.
    Text,
    /// The whole plan as one JSON object.
    Json,
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Update => "~",
        Action::Nothing => "=",
        Action::Adopt => "<",
        Action::Conflict => "!",
        Action::Invalid | Action::Error => "x",
    }
}

fn action_text(t: &TrunkPlan) -> String {
    match t.action {
        Action::Update => format!("update {}", t.fields.join(", ")),
        Action::Conflict => format!("conflict (trunk {})", t.trunk_id.as_deref().unwrap_or("?")),
        Action::Adopt => format!("adopt ({})", t.reason.as_deref().unwrap_or_default()),
        Action::Invalid => "invalid".into(),
        Action::Error => format!("error ({})", t.reason.as_deref().unwrap_or_default()),
        Action::Create => "create".into(),
        Action::Nothing => "nothing".into(),
    }
}

/// The plan as text: one line per trunk, then its details indented; then the same for the
/// dispatch rules.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let width = plan.objects().map(|t| t.namespace.len() + t.name.len() + 1).max().unwrap_or(0);
    let trunks = plan.trunks.iter().map(|t| (t, "trunk", false));
    let rules = plan.rules.iter().enumerate().map(|(i, t)| (t, "rule", i == 0));
    for (t, what, first_rule) in trunks.chain(rules) {
        if first_rule {
            out.push_str("dispatch rules:\n");
        }
        let who = format!("{}/{}", t.namespace, t.name);
        let on = match (&t.provider_type, t.trunk_id.as_deref()) {
            (Some(ty), Some(id)) => format!("{} ({}) {what} {id}", t.provider, ty.as_str()),
            (Some(ty), None) => format!("{} ({})", t.provider, ty.as_str()),
            (None, _) => t.provider.clone(),
        };
        out.push_str(&format!("{} {who:<width$}  {:<40} {on}\n", symbol(t.action), action_text(t)));
        if !t.message.is_empty() {
            out.push_str(&format!("    {}\n", t.message));
        }
        if t.action == Action::Adopt && !t.fields.is_empty() {
            out.push_str(&format!("    then update {}\n", t.fields.join(", ")));
        }
        if let Some(p) = t.password {
            out.push_str(&format!("    password: {}\n", p.describe()));
        }
        for n in &t.notes {
            out.push_str(&format!("    note: {n}\n"));
        }
    }
    for p in &plan.problems {
        out.push_str(&format!("x {}: {}\n", p.object, p.errors.join("; ")));
        if p.source != p.object && !p.source.is_empty() {
            out.push_str(&format!("    in {}\n", p.source));
        }
    }
    let count = |a: Action| plan.objects().filter(|t| t.action == a).count();
    out.push_str(&format!(
        "\n{} to create, {} to update, {} to adopt, {} unchanged, {} conflicts, {} invalid, {} errors; {} read-only provider calls, no writes.\n",
        count(Action::Create),
        count(Action::Update),
        count(Action::Adopt),
        count(Action::Nothing),
        count(Action::Conflict),
        count(Action::Invalid),
        count(Action::Error) + plan.problems.len(),
        plan.provider_calls,
    ));
    out
}

/// The plan as JSON, with the exit code it leads to.
pub fn json(plan: &Plan) -> Value {
    let mut v = serde_json::to_value(plan).unwrap_or_else(|e| json!({"error": e.to_string()}));
    v["exitCode"] = json!(plan.exit_code());
    v
}
