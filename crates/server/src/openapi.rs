//! The route list and the OpenAPI document built from it (`utoipa-axum`), so the two never
//! differ. The document is served at `/openapi.json` and checked in as `openapi.json` (a
//! test fails when they differ).

use crate::state::AppState;
use crate::{
    admin, analyst, applications, auth, detection_api, electors, exports, mail, passkeys, problem, supplies,
};
use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// How callers prove who they are: a bearer token (an API token or a session token), or the
/// session cookie (with the CSRF token on state-changing requests).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (rgt_…) or a session token (rgs_…)"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The session cookie; state-changing requests also send the CSRF token in X-CSRF-Token",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollguard",
        description = "The electoral register API. Every login needs a second factor; every route is scoped by role and local authority. Every error is an RFC 9457 problem document.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Logins (password, then TOTP, a recovery code or a passkey), enrolment, sessions"),
        (name = "electors", description = "Electors of one local authority"),
        (name = "applications", description = "Applications to register: received, identity checked, determined"),
        (name = "exports", description = "Register supplies: asked for, approved by a second person, collected once"),
        (name = "admin", description = "Principals, role grants and API tokens"),
        (name = "audit", description = "The audit log for security analysts: events, proofs, checkpoints"),
        (name = "detection", description = "Detection rules, automatic responses and their reversal"),
        (name = "mail", description = "Mail reconnaissance: scan a message for trackers and spoofed senders"),
        (name = "operations", description = "Health, readiness, metrics")
    ),
    components(schemas(problem::Problem, problem::FieldProblem))
)]
struct ApiDoc;

pub(crate) fn api() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::totp))
        .routes(routes!(auth::recovery))
        .routes(routes!(auth::enrol_start))
        .routes(routes!(auth::enrol_finish))
        .routes(routes!(auth::logout))
        .routes(routes!(passkeys::passkey_register_start))
        .routes(routes!(passkeys::passkey_register_finish))
        .routes(routes!(passkeys::passkey_start))
        .routes(routes!(passkeys::passkey_finish))
        .routes(routes!(auth::me))
        .routes(routes!(electors::search, electors::add))
        .routes(routes!(electors::read, electors::amend, electors::delete))
        .routes(routes!(electors::history))
        .routes(routes!(applications::receive))
        .routes(routes!(applications::show))
        .routes(routes!(applications::identity))
        .routes(routes!(applications::determine))
        .routes(routes!(supplies::request_supply))
        .routes(routes!(supplies::list_supplies))
        .routes(routes!(supplies::show_supply))
        .routes(routes!(supplies::decide_supply))
        .routes(routes!(exports::collect_supply))
        .routes(routes!(admin::list_principals, admin::add_principal))
        .routes(routes!(admin::change_grant))
        .routes(routes!(admin::principal_action))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(crate::proposals::list_proposals))
        .routes(routes!(crate::proposals::decide_proposal))
        .routes(routes!(analyst::events))
        .routes(routes!(analyst::checkpoint))
        .routes(routes!(analyst::proof))
        .routes(routes!(analyst::consistency))
        .routes(routes!(detection_api::rules))
        .routes(routes!(detection_api::reload))
        .routes(routes!(detection_api::responses))
        .routes(routes!(detection_api::reverse))
        .routes(routes!(mail::scan).layer(DefaultBodyLimit::max(mail::MAX_MESSAGE_BYTES)))
        .routes(routes!(crate::healthz))
        .routes(routes!(crate::readyz))
        .routes(routes!(crate::metrics_text))
        .split_for_parts();
    conventions(&mut doc);
    (router, doc)
}

/// What every operation of its kind can answer, added where an annotation leaves it out,
/// and every error declared as what it is, an `application/problem+json` document: a
/// client generated from the document then knows every status it can meet.
fn conventions(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    for (path, item) in doc.paths.paths.iter_mut() {
        let unshed = crate::UNSHED.contains(&path.as_str());
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            let params = op.parameters.as_deref().unwrap_or(&[]);
            let in_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
            let in_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
            let mut need: Vec<u16> = Vec::new();
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                need.extend([401, 403]);
            }
            if op.request_body.is_some() {
                need.extend([400, 413, 415, 422]);
            }
            if in_path || in_query {
                need.push(400);
            }
            if in_query {
                need.push(422);
            }
            if in_path {
                need.push(404);
            }
            if !unshed {
                need.extend([429, 503]);
            }
            for code in need {
                op.responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| problem_response(code).into());
            }
            for (code, response) in op.responses.responses.iter_mut() {
                let utoipa::openapi::RefOr::T(r) = response else { continue };
                if !(code.starts_with('4') || code.starts_with('5')) {
                    continue;
                }
                let content = r.content.shift_remove("application/json").unwrap_or_else(problem_content);
                r.content.clear();
                r.content.insert(PROBLEM_JSON.into(), content);
                if code == "429" || code == "503" {
                    r.headers.entry("Retry-After".into()).or_insert_with(retry_after);
                }
            }
        }
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

fn problem_content() -> utoipa::openapi::Content {
    utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
}

fn problem_response(code: u16) -> utoipa::openapi::Response {
    let reason =
        axum::http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let mut r = utoipa::openapi::Response::new(reason);
    r.content.insert(PROBLEM_JSON.into(), problem_content());
    r
}

fn retry_after() -> utoipa::openapi::header::Header {
    let seconds = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(1))
        .build();
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(seconds)
        .description(Some("Seconds to wait before trying again"))
        .build()
}

/// The OpenAPI document, as served at `/openapi.json` and checked in as `openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}
