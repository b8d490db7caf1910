//! API errors, each rendered as the Kubernetes `Status` object the real API server would send.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::types::qualify;

/// One field-level reason an object is invalid (`details.causes[]` of a 422 Status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCause {
    /// `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: String,
    /// `Required value: name or generateName is required`
    pub message: String,
    /// `metadata.name`
    pub field: String,
}

/// An error of the embedded API, worded like the real API server's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// `kustomizations.kustomize.toolkit.fluxcd.io "x" not found`
    #[error("{} \"{name}\" not found", qualify(resource, group))]
    NotFound {
        group: String,
        resource: String,
        name: String,
    },
    /// An unknown path, group, version or resource.
    #[error("the server could not find the requested resource")]
    ResourceNotFound,
    /// `kustomizations.kustomize.toolkit.fluxcd.io "x" already exists`
    #[error("{} \"{name}\" already exists", qualify(resource, group))]
    AlreadyExists {
        group: String,
        resource: String,
        name: String,
    },
    /// A stale resourceVersion on update.
    #[error("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", qualify(resource, group))]
    Conflict {
        group: String,
        resource: String,
        name: String,
    },
    /// `Kustomization.kustomize.toolkit.fluxcd.io "x" is invalid: metadata.name: Required value: ...`
    #[error(
        "{} \"{name}\" is invalid: {}",
        qualify(kind, group),
        invalid_summary(causes)
    )]
    Invalid {
        group: String,
        kind: String,
        name: String,
        causes: Vec<StatusCause>,
    },
    /// RBAC denial (or an injected one).
    #[error("{message}")]
    Forbidden {
        group: String,
        resource: String,
        name: Option<String>,
        message: String,
    },
    /// A resourceVersion older than the retained history (reason `Expired`).
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    BadRequest { message: String },
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// Any other status: injected faults (500, 503, 429, ...).
    #[error("{message}")]
    Other {
        code: u16,
        reason: String,
        message: String,
    },
}

fn invalid_summary(causes: &[StatusCause]) -> String {
    let one = |c: &StatusCause| format!("{}: {}", c.field, c.message);
    match causes {
        [single] => one(single),
        many => format!("[{}]", many.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::ResourceNotFound => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::Forbidden { .. } => 403,
            ApiError::Gone { .. } => 410,
            ApiError::BadRequest { .. } => 400,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Other { code, .. } => *code,
        }
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &str {
        match self {
            ApiError::NotFound { .. } | ApiError::ResourceNotFound => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::Gone { .. } => "Expired",
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::Other { reason, .. } => reason,
        }
    }

    /// The error a denied resource answers with `code` (see `ApiServer::deny`).
    pub(crate) fn injected(code: u16, forbidden: impl FnOnce() -> ApiError) -> ApiError {
        let (reason, message) = match code {
            403 => return forbidden(),
            400 => ("BadRequest", "the server rejected our request for an unknown reason"),
            401 => ("Unauthorized", "Unauthorized"),
            404 => ("NotFound", "the server could not find the requested resource"),
            409 => ("Conflict", "the server reported a conflict"),
            410 => ("Expired", "the server reported the resource as gone"),
            429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => ("ServiceUnavailable", "the server is currently unable to handle the request"),
            504 => ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request"),
            _ => ("", "an error on the server has prevented the request from succeeding"),
        };
        ApiError::Other {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
        }
    }

    /// The Kubernetes `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut details = Map::new();
        let mut put = |key: &str, value: &str| {
            if !value.is_empty() {
                details.insert(key.to_string(), Value::String(value.to_string()));
            }
        };
        match self {
            ApiError::NotFound {
                group,
                resource,
                name,
            }
            | ApiError::AlreadyExists {
                group,
                resource,
                name,
            }
            | ApiError::Conflict {
                group,
                resource,
                name,
            } => {
                put("name", name);
                put("group", group);
                put("kind", resource);
            }
            ApiError::Forbidden {
                group,
                resource,
                name,
                ..
            } => {
                put("name", name.as_deref().unwrap_or(""));
                put("group", group);
                put("kind", resource);
            }
            ApiError::Invalid {
                group,
                kind,
                name,
                causes,
            } => {
                put("name", name);
                put("group", group);
                put("kind", kind);
                let causes = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".to_string(), Value::Array(causes));
            }
            _ => {}
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        if self.reason().is_empty() {
            status.as_object_mut().map(|s| s.remove("reason"));
        }
        status
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        field: &str,
        reason: &str,
        message: String,
    ) -> ApiError {
        ApiError::Invalid {
            group: group.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            causes: vec![StatusCause {
                reason: reason.to_string(),
                message,
                field: field.to_string(),
            }],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            self.status().to_string(),
        )
            .into_response()
    }
}
