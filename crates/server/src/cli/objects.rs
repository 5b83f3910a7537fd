//! `pennon flags ...` and `pennon envs ...`: everyday flag work from a terminal or a script.

use std::fmt::Write as _;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::args::{ClientArgs, FlagsCommand};
use super::client::{Body, ClientError, encode};
use super::{connect, print};

/// Runs `pennon flags ...`.
pub(super) async fn flags(command: FlagsCommand) -> Result<(), ClientError> {
    match command {
        FlagsCommand::List { client: args } => {
            let client = connect(&args)?;
            let mut items = Vec::new();
            let mut path = "/api/v1/flags?limit=500".to_owned();
            loop {
                let page = client.get_json(&path).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                let Some(cursor) = page["next_cursor"].as_str() else { break };
                path = format!("/api/v1/flags?limit=500&cursor={}", encode(cursor));
            }
            let value = Value::Array(items);
            print(args.output, &value, || {
                let mut out = String::new();
                for f in value.as_array().into_iter().flatten() {
                    let tags: Vec<&str> =
                        f["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    let archived = if f["archived"] == true { "  (archived)" } else { "" };
                    let _ = writeln!(
                        out,
                        "{:<32} {:<8} {}{archived}",
                        f["key"].as_str().unwrap_or(""),
                        f["kind"].as_str().unwrap_or(""),
                        tags.join(",")
                    );
                }
                out
            });
            Ok(())
        }
        FlagsCommand::Get { client: args, flag, environment } => {
            let client = connect(&args)?;
            let path = match &environment {
                Some(env) => format!("/api/v1/flags/{}/environments/{}", encode(&flag), encode(env)),
                None => format!("/api/v1/flags/{}", encode(&flag)),
            };
            let value = client.get_json(&path).await?;
            print(args.output, &value, || serde_json::to_string_pretty(&value).expect("JSON") + "\n");
            Ok(())
        }
        FlagsCommand::Toggle { client: args, flag, environment, on, off } => {
            let client = connect(&args)?;
            let body = if on || off { json!({ "enabled": on }) } else { json!({}) };
            let path = format!("/api/v1/flags/{}/environments/{}/toggle", encode(&flag), encode(&environment));
            let value = client.send(Method::POST, &path, Some(Body::json(&body))).await?.json()?;
            print(args.output, &value, || {
                let state = if value["enabled"] == true { "on" } else { "off" };
                format!("{flag} is {state} in {environment} (version {})\n", value["version"])
            });
            Ok(())
        }
        FlagsCommand::SetDefault { client: args, flag, environment, variant } => {
            let client = connect(&args)?;
            let path = format!("/api/v1/flags/{}/environments/{}/default", encode(&flag), encode(&environment));
            let body = Body::json(&json!({ "variant": variant }));
            let value = client.send(Method::PUT, &path, Some(body)).await?.json()?;
            print(args.output, &value, || {
                format!("{flag} serves {variant} by default in {environment} (version {})\n", value["version"])
            });
            Ok(())
        }
        FlagsCommand::Evaluate { client: args, flag, environment, key, attributes } => {
            let client = connect(&args)?;
            let mut attrs = Map::new();
            for a in &attributes {
                let Some((name, raw)) = a.split_once('=') else {
                    return Err(ClientError::usage(format!("--attr takes NAME=VALUE, got {a:?}")));
                };
                let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
                attrs.insert(name.to_owned(), value);
            }
            let body = json!({ "environment": environment, "flag": flag,
                "context": { "key": key, "attributes": attrs } });
            let value = client.send(Method::POST, "/api/v1/evaluate", Some(Body::json(&body))).await?.json()?;
            print(args.output, &value, || {
                let reason = &value["reason"];
                let mut why = reason["kind"].as_str().unwrap_or("").to_owned();
                if let Some(rule) = reason["rule_id"].as_str() {
                    let _ = write!(why, " (rule {rule})");
                }
                format!("{} = {} (variant {}, {why})\n", flag, value["value"], value["variant"].as_str().unwrap_or("-"))
            });
            Ok(())
        }
    }
}

/// Runs `pennon envs list`.
pub(super) async fn envs(args: &ClientArgs) -> Result<(), ClientError> {
    let client = connect(args)?;
    let value = client.get_json("/api/v1/environments").await?;
    print(args.output, &value["items"], || {
        let mut out = String::new();
        for e in value["items"].as_array().into_iter().flatten() {
            let production = if e["production"] == true { "  production" } else { "" };
            let _ = writeln!(
                out,
                "{:<24} {}{production}",
                e["key"].as_str().unwrap_or(""),
                e["name"].as_str().unwrap_or("")
            );
        }
        out
    });
    Ok(())
}
