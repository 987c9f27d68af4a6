//! The sync options form on the Sync page, built from the settings API's view
//! (`GET /api/v1/sync/settings`): each option editable unless the config file manages it,
//! then shown read-only. Saving sends only the options that changed through the same
//! function as `PATCH /api/v1/sync/settings`, which starts the run that applies them.
//!
//! Why generic over the view: the option list lives in `sync::settings`; the form follows
//! each option's JSON type (checkbox for booleans, one entry per line for lists, a number,
//! a word, or JSON for structured values such as the deletion threshold), so a new option
//! appears here without a console change.

use super::layout::csrf_field;
use super::session::Session;
use super::{Shared, SignedIn, audit};
use crate::admin::settings::apply_patch;
use crate::sync::settings::{OptionSource, OptionView, SettingsView};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Map, Value};

/// Form field name of an option.
fn field(key: &str) -> String {
    format!("opt.{key}")
}

/// What an option's value looks like in a text field.
fn as_text(value: &Value) -> String {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn source(option: &OptionView) -> &'static str {
    match option.source {
        OptionSource::File => "set in the config file (read-only here)",
        OptionSource::Admin => "set by an admin",
        OptionSource::Default => "default",
    }
}

/// The form (or, for file-managed options, the read-only values).
pub fn render(session: &Session, view: &SettingsView, warnings: &[String]) -> Markup {
    html! {
        @for warning in warnings { p.flash.error { (warning) } }
        form.card #sync-options method="post" action="/console/sync/settings" {
            (csrf_field(session))
            table {
                thead { tr { th { "Option" } th { "Value" } th { "Source" } } }
                tbody {
                    @for (key, option) in &view.options {
                        tr {
                            td.mono { label for=(field(key)) { (key) } }
                            td { (input(key, option)) }
                            td.muted { (source(option)) }
                        }
                    }
                }
            }
            p { button.primary #save-options type="submit" { "Save options" } }
        }
    }
}

fn input(key: &str, option: &OptionView) -> Markup {
    let name = field(key);
    let disabled = !option.editable;
    match &option.value {
        Value::Bool(on) => html! {
            input id=(name) type="checkbox" name=(name) checked[*on] disabled[disabled];
        },
        Value::Array(_) => html! {
            textarea id=(name) name=(name) rows="2" cols="40" disabled[disabled] placeholder="one per line" { (as_text(&option.value)) }
        },
        _ => html! {
            input id=(name) type="text" name=(name) value=(as_text(&option.value)) disabled[disabled];
        },
    }
}

/// The submitted value of an editable option, typed like its current value; `None` when
/// it did not change.
fn submitted(
    key: &str,
    current: &Value,
    form: &Map<String, Value>,
) -> Result<Option<Value>, String> {
    let raw = form.get(&field(key)).and_then(Value::as_str);
    let new = match current {
        // An unchecked box is not submitted at all.
        Value::Bool(_) => Value::Bool(raw.is_some()),
        Value::Array(_) => Value::Array(
            raw.unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::String(l.to_string()))
                .collect(),
        ),
        Value::Number(_) => {
            let text = raw.unwrap_or("").trim();
            let n: u64 = text
                .parse()
                .map_err(|_| format!("{key}: `{text}` is not a whole number"))?;
            Value::from(n)
        }
        Value::String(_) => Value::String(raw.unwrap_or("").trim().to_string()),
        _ => {
            let text = raw.unwrap_or("").trim();
            serde_json::from_str(text).map_err(|e| format!("{key}: not valid JSON ({e})"))?
        }
    };
    Ok((new != *current).then_some(new))
}

/// `POST /console/sync/settings`.
pub async fn save(
    axum::extract::State(console): Shared,
    session: SignedIn,
    axum::Form(form): axum::Form<Map<String, Value>>,
) -> Response {
    let view = console.services.sync.settings().view();
    let mut patch = Map::new();
    let mut problems = Vec::new();
    for (key, option) in view.options.iter().filter(|(_, o)| o.editable) {
        match submitted(key, &option.value, &form) {
            Ok(Some(value)) => {
                patch.insert(key.clone(), value);
            }
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }
    let keys = patch.keys().cloned().collect::<Vec<_>>().join(",");
    let result = if !problems.is_empty() {
        Err(problems.join("; "))
    } else if patch.is_empty() {
        Ok("Nothing changed".to_string())
    } else {
        apply_patch(&console.services, patch)
            .await
            .map(|answer| format!("Options saved ({keys}): {}", answer.message))
            .map_err(|e| e.message().to_string())
    };
    if !keys.is_empty() || !problems.is_empty() {
        let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        audit::by(&console.services, &session, "sync.settings", &keys, outcome).await;
    }
    match result {
        Ok(message) => console.sessions.set_flash(&session.id, true, message),
        Err(why) => console.sessions.set_flash(&session.id, false, why),
    }
    Redirect::to("/console/sync").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn submitted_values_follow_the_current_type_and_unchanged_ones_are_dropped() {
        let f = form(&[
            ("opt.users", "on"),
            ("opt.group_prefixes", "eng-\n\n ops- \n"),
            ("opt.interval", "60"),
            ("opt.inactive_users", "show"),
            ("opt.deletion_threshold", r#"{"count":5,"percent":null}"#),
        ]);
        assert_eq!(submitted("users", &json!(true), &f), Ok(None));
        assert_eq!(
            submitted("groups", &json!(true), &f),
            Ok(Some(json!(false)))
        );
        assert_eq!(
            submitted("group_prefixes", &json!([]), &f),
            Ok(Some(json!(["eng-", "ops-"])))
        );
        assert_eq!(submitted("interval", &json!(30), &f), Ok(Some(json!(60))));
        assert_eq!(
            submitted("inactive_users", &json!("hide"), &f),
            Ok(Some(json!("show")))
        );
        assert_eq!(
            submitted(
                "deletion_threshold",
                &json!({"count": 500, "percent": 10}),
                &f
            ),
            Ok(Some(json!({"count": 5, "percent": null})))
        );
        let bad = form(&[("opt.interval", "soon")]);
        assert!(submitted("interval", &json!(30), &bad).is_err());
    }
}
