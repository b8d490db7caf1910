//! HTTP face of the embedded API: routes paths to resources and verbs, negotiates JSON, Table and
//! metadata-only answers, and turns every failure into a Status.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::discovery;
use super::error::ApiError;
use super::inner::parse_stored;
use super::object::at_version;
use super::openapi;
use super::protobuf;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ListOptions, ListPage, Patch, RawPage, WriteContext};
use super::table::{object_metadata, IncludeObject, TableBuilder};
use super::types::ResourceType;
use super::watch;
use super::ApiServer;

pub(crate) struct AppState {
    pub server: ApiServer,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

pub(crate) fn router(server: ApiServer, shutdown: tokio::sync::watch::Receiver<bool>) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(AppState { server, shutdown }))
}

/// How a response body is shaped, from the Accept header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Table(IncludeObject),
    Metadata,
}

/// One request on a resource, its path parsed.
pub(crate) struct Target {
    pub rt: Arc<ResourceType>,
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub(crate) type Query = HashMap<String, String>;

/// A JSON body already serialized (stored objects are served as stored).
fn bytes_response(code: StatusCode, body: Bytes) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: Query = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let mut response = match route(&state, &method, uri.path(), &headers, &query, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Some(warning) = deprecation_warning(&state, uri.path()) {
        // RFC 7234 warn-code 299, as kube-apiserver sends a CRD version's deprecationWarning;
        // kubectl prints it as "Warning: ...".
        let value = format!("299 - {}", serde_json::Value::String(warning));
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

/// The deprecation warning of the CRD version a request under `/apis/{group}/{version}/...` uses.
fn deprecation_warning(state: &AppState, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, plural) = match segments.as_slice() {
        ["apis", group, version, "namespaces", _, plural, ..] => (*group, *version, *plural),
        ["apis", group, version, plural, ..] => (*group, *version, *plural),
        _ => return None,
    };
    let rt = state.server.store().type_arc(group, plural)?;
    rt.deprecation_warning(version).map(str::to_string)
}

async fn route(
    state: &Arc<AppState>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: &Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let store = state.server.store();
    let discovery_doc = |doc: Option<Value>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        doc.map(|d| json_response(StatusCode::OK, &d))
            .ok_or(ApiError::ResourceNotFound)
    };
    match segments.as_slice() {
        ["version"] => discovery_doc(Some(discovery::version())),
        ["healthz" | "readyz" | "livez", ..] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            discovery_doc(Some(discovery::api_versions(host)))
        }
        ["apis"] => discovery_doc(Some(discovery::api_group_list(&store.types()))),
        ["apis", group] => discovery_doc(discovery::group(&store.types(), group)),
        ["openapi", "v3"] => discovery_doc(Some(openapi::root(&store.types()))),
        ["openapi", "v3", "api", version] => {
            discovery_doc(openapi::group_version(&store.types(), "", version))
        }
        ["openapi", "v3", "apis", group, version] => {
            discovery_doc(openapi::group_version(&store.types(), group, version))
        }
        ["api", "v1", rest @ ..] => {
            resource(state, method, "", "v1", rest, headers, query, body).await
        }
        ["apis", group, version, rest @ ..] => {
            resource(state, method, group, version, rest, headers, query, body).await
        }
        _ => Err(ApiError::ResourceNotFound),
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    state: &Arc<AppState>,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    headers: &HeaderMap,
    query: &Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let store = state.server.store();
    if rest.is_empty() {
        if method != Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        let doc = discovery::resource_list(&store.types(), group, version)
            .ok_or(ApiError::ResourceNotFound)?;
        return Ok(json_response(StatusCode::OK, &doc));
    }
    let (namespace, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !(group.is_empty() && matches!(*plural, "status" | "finalize")) =>
        {
            (Some(ns.to_string()), *plural, tail)
        }
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Err(ApiError::ResourceNotFound),
    };
    let rt = store
        .type_arc(group, plural)
        .filter(|rt| rt.serves(version))
        .ok_or(ApiError::ResourceNotFound)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::ResourceNotFound);
    }
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub] if *sub == "status" && rt.status_subresource => {
            (Some(name.to_string()), Some(sub.to_string()))
        }
        _ => return Err(ApiError::ResourceNotFound),
    };
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::ResourceNotFound);
    }
    let target = Target {
        rt,
        version: version.to_string(),
        namespace,
        name,
        subresource,
    };
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (method.as_str(), target.name.is_some()) {
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("GET", true) if watching => "watch",
        ("GET", true) => "get",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return Err(ApiError::MethodNotAllowed),
    };
    if let Some(code) = state.server.denied(&target.rt.plural) {
        let internal = headers.get(super::INTERNAL_HEADER).map(|v| v.as_bytes());
        if !state.server.is_internal(internal) {
            return Err(ApiError::injected(code, || forbidden(&target, verb)));
        }
    }
    let format = negotiate(headers, query);
    let manager = field_manager(headers, query);
    let ctx = WriteContext {
        manager: &manager,
        version,
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
    };
    let (rt, ns, name) = (
        &target.rt,
        target.namespace.as_deref(),
        target.name.as_deref().unwrap_or_default(),
    );
    let sub = target.subresource.as_deref();
    match verb {
        "watch" => watch::serve(state, &target, query, format),
        "list" => {
            let page = store.list_raw(rt, &list_options(rt, ns, query)?)?;
            Ok(render_raw_list(rt, version, page, format))
        }
        "get" => {
            let stored = store.get_in(rt, ns, name)?;
            if format == Format::Json && version == rt.version {
                return Ok(bytes_response(StatusCode::OK, stored));
            }
            let object = at_version(&parse_stored(&stored), rt, version);
            Ok(json_response(
                StatusCode::OK,
                &render_one(rt, &object, format),
            ))
        }
        "create" => {
            if target.namespace.is_none() && rt.namespaced {
                return Err(ApiError::MethodNotAllowed);
            }
            let object = store.create_in(rt, ns, parse_body(headers, &body)?, &ctx)?;
            Ok(json_response(StatusCode::CREATED, &object))
        }
        "update" => {
            let object = store.update_in(rt, ns, name, parse_body(headers, &body)?, sub, &ctx)?;
            Ok(json_response(StatusCode::OK, &object))
        }
        "patch" => {
            let patch = parse_patch(rt, headers, &body)?;
            let object = store.patch_in(rt, ns, name, patch, sub, &ctx)?;
            Ok(json_response(StatusCode::OK, &object))
        }
        "delete" => {
            let object = store.delete_in(rt, ns, name, ctx.dry_run)?;
            Ok(json_response(
                StatusCode::OK,
                &at_version(&object, rt, version),
            ))
        }
        _ => {
            let page = store.list_in(rt, &list_options(rt, ns, query)?)?;
            let mut deleted = Vec::new();
            for item in &page.items {
                let item_ns = item.pointer("/metadata/namespace").and_then(Value::as_str);
                let item_name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                deleted.push(store.delete_in(rt, item_ns, item_name, ctx.dry_run)?);
            }
            let page = ListPage {
                items: deleted,
                ..page
            };
            Ok(json_response(
                StatusCode::OK,
                &render_list(rt, version, page, Format::Json),
            ))
        }
    }
}

/// The RBAC denial the real API server words for an anonymous user.
fn forbidden(target: &Target, verb: &str) -> ApiError {
    let rt = &target.rt;
    let resource = match &target.subresource {
        Some(sub) => format!("{}/{sub}", rt.plural),
        None => rt.plural.clone(),
    };
    let subject = match (&target.name, verb) {
        (Some(name), v) if v != "create" => format!("{} \"{name}\"", rt.qualified_plural()),
        _ => rt.qualified_plural(),
    };
    let scope = match &target.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    ApiError::Forbidden {
        group: rt.group.clone(),
        resource: rt.plural.clone(),
        name: target.name.clone(),
        message: format!(
            "{subject} is forbidden: User \"system:anonymous\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            rt.group
        ),
    }
}

/// The Accept header's first shape we serve; protobuf and unknown shapes fall back to JSON.
pub(crate) fn negotiate(headers: &HeaderMap, query: &Query) -> Format {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        if !matches!(media, "application/json" | "*/*" | "application/*") {
            continue;
        }
        match params.get("as").copied() {
            Some("Table") => {
                return Format::Table(IncludeObject::parse(
                    query.get("includeObject").map(String::as_str),
                ))
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") => return Format::Metadata,
            Some(_) => continue,
            None => return Format::Json,
        }
    }
    Format::Json
}

/// The managedFields manager: `fieldManager`, else the User-Agent up to its first `/`.
fn field_manager(headers: &HeaderMap, query: &Query) -> String {
    if let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return manager.clone();
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("unknown");
    let prefix = agent.split('/').next().unwrap_or(agent);
    prefix.chars().take(128).collect()
}

pub(crate) fn list_options(
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &Query,
) -> Result<ListOptions, ApiError> {
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {l:?}")))?,
        ),
        None => None,
    };
    Ok(ListOptions {
        namespace: namespace.map(str::to_string),
        label_selector: LabelSelector::parse(
            query.get("labelSelector").map_or("", String::as_str),
        )?,
        field_selector: FieldSelector::parse(
            query.get("fieldSelector").map_or("", String::as_str),
            rt,
        )?,
        limit,
        continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

/// A list page as a response: at the storage version in JSON, the stored items are joined as
/// they are, without a parse; other versions and shapes go through [`render_list`].
fn render_raw_list(rt: &ResourceType, version: &str, page: RawPage, format: Format) -> Response {
    if format != Format::Json || version != rt.version {
        let page = ListPage {
            items: page.items.iter().map(|o| parse_stored(o)).collect(),
            resource_version: page.resource_version,
            continue_token: page.continue_token,
            remaining_item_count: page.remaining_item_count,
        };
        return json_response(StatusCode::OK, &render_list(rt, version, page, format));
    }
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining_item_count {
        metadata["remainingItemCount"] = json!(remaining);
    }
    let head = json!({"apiVersion": rt.api_version_for(version), "kind": format!("{}List", rt.kind), "metadata": metadata})
        .to_string();
    let size = head.len() + page.items.iter().map(|i| i.len() + 1).sum::<usize>() + 16;
    let mut body = Vec::with_capacity(size);
    // `{...head fields...,"items":[item,item]}`
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    bytes_response(StatusCode::OK, Bytes::from(body))
}

fn render_list(rt: &ResourceType, version: &str, page: ListPage, format: Format) -> Value {
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining_item_count {
        metadata["remainingItemCount"] = json!(remaining);
    }
    match format {
        Format::Json => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| at_version(o, rt, version))
                .collect();
            json!({"apiVersion": rt.api_version_for(version), "kind": format!("{}List", rt.kind), "metadata": metadata, "items": items})
        }
        Format::Table(include) => {
            let builder = TableBuilder::new(rt, include);
            let rows = page
                .items
                .iter()
                .map(|o| builder.row(&at_version(o, rt, version)))
                .collect();
            builder.table(rows, metadata, true)
        }
        Format::Metadata => {
            let items: Vec<Value> = page.items.iter().map(object_metadata).collect();
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": metadata, "items": items})
        }
    }
}

pub(crate) fn render_one(rt: &ResourceType, object: &Value, format: Format) -> Value {
    match format {
        Format::Json => object.clone(),
        Format::Table(include) => {
            let builder = TableBuilder::new(rt, include);
            let rv = object
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(json!(""));
            builder.table(
                vec![builder.row(object)],
                json!({"resourceVersion": rv}),
                true,
            )
        }
        Format::Metadata => object_metadata(object),
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or("application/json")
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let media = content_type(headers)
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if media.contains("protobuf") {
        if let Some(object) = protobuf::decode(body) {
            return Ok(object);
        }
    }
    if media.contains("protobuf") || media.contains("cbor") {
        return Err(ApiError::UnsupportedMediaType {
            message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml".to_string(),
        });
    }
    parse_document(media.contains("yaml"), body)
}

fn parse_document(yaml: bool, body: &[u8]) -> Result<Value, ApiError> {
    let parsed = serde_json::from_slice::<Value>(body).map_err(|e| e.to_string());
    let parsed = match parsed {
        Err(_) if yaml => {
            let text =
                std::str::from_utf8(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
        }
        other => other,
    };
    parsed.map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

fn parse_patch(rt: &ResourceType, headers: &HeaderMap, body: &[u8]) -> Result<Patch, ApiError> {
    let media = content_type(headers)
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let document = |yaml| parse_document(yaml, body);
    match media.as_str() {
        "application/merge-patch+json" => Ok(Patch::Merge(document(false)?)),
        "application/json-patch+json" => Ok(Patch::Json(document(false)?)),
        "application/strategic-merge-patch+json" if rt.is_builtin() => {
            Ok(Patch::Merge(document(false)?))
        }
        "application/apply-patch+yaml" => Ok(Patch::Apply(document(true)?)),
        _ => {
            let strategic = if rt.is_builtin() {
                ", application/strategic-merge-patch+json"
            } else {
                ""
            };
            Err(ApiError::UnsupportedMediaType {
                message: format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{strategic}"
                ),
            })
        }
    }
}
