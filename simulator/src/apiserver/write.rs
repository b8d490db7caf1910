//! The write paths of the store: create, update, patch and delete with the API server's rules,
//! and committing each change under a new resourceVersion as a watch event.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::error::{ApiError, StatusCause};
use super::fields::{self, FieldPath, ManagedEntry, Writer};
use super::inner::{object_key, ObjectKey};
use super::object::{
    at_version, check_kind, check_name, has_generation, meta_mut, new_uid, now_rfc3339,
    random_suffix, spec_changed, str_at, SERVER_METADATA,
};
use super::store::{not_found, Patch, Store, WriteContext};
use super::types::ResourceType;

impl Store {
    pub(crate) fn create_in(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        object: Value,
        ctx: &WriteContext,
    ) -> Result<Value, ApiError> {
        self.create_op(rt, namespace, object, ctx, "Update")
    }

    fn create_op(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut object: Value,
        ctx: &WriteContext,
        operation: &str,
    ) -> Result<Value, ApiError> {
        let version = if ctx.version.is_empty() {
            rt.version.as_str()
        } else {
            ctx.version
        };
        check_kind(rt, &object, version)?;
        let body_ns = str_at(&object, "/metadata/namespace")
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let ns = if rt.namespaced {
            match (namespace, body_ns.as_deref()) {
                (Some(url), Some(body)) if url != body => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                (Some(ns), _) | (None, Some(ns)) => Some(ns.to_string()),
                (None, None) => {
                    let name = str_at(&object, "/metadata/name").unwrap_or_default();
                    return Err(ApiError::invalid(
                        &rt.group,
                        &rt.kind,
                        name,
                        "metadata.namespace",
                        "FieldValueRequired",
                        "Required value".to_string(),
                    ));
                }
            }
        } else {
            None
        };
        let mut inner = self.lock();
        if let Some(ns) = &ns {
            let namespaces = inner
                .find("", "namespaces")
                .expect("namespaces are built in");
            if inner
                .collection(&namespaces)
                .is_none_or(|c| !c.contains_key(&(String::new(), ns.clone())))
            {
                return Err(not_found(&namespaces, ns));
            }
        }
        let meta = meta_mut(&mut object);
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
                name = format!("{prefix}{}", random_suffix());
            }
        }
        check_name(rt, &name)?;
        let key = object_key(rt, ns.as_deref(), &name);
        if inner.collection(rt).is_some_and(|c| c.contains_key(&key)) {
            return Err(ApiError::AlreadyExists {
                group: rt.group.clone(),
                resource: rt.plural.clone(),
                name,
            });
        }
        let now = now_rfc3339();
        for field in SERVER_METADATA {
            meta.remove(*field);
        }
        meta.insert("name".to_string(), json!(name));
        if let Some(ns) = &ns {
            meta.insert("namespace".to_string(), json!(ns));
        }
        meta.insert("uid".to_string(), json!(new_uid()));
        meta.insert("creationTimestamp".to_string(), json!(now));
        if has_generation(rt) {
            meta.insert("generation".to_string(), json!(1));
        }
        object["apiVersion"] = json!(rt.api_version());
        if rt.status_subresource {
            object.as_object_mut().map(|o| o.remove("status"));
        }
        if rt.group.is_empty() && rt.plural == "namespaces" {
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
        }
        let api_version = rt.api_version_for(version);
        let writer = Writer {
            manager: ctx.manager,
            operation,
            subresource: None,
            api_version: &api_version,
            time: &now,
        };
        let mut managed = Vec::new();
        fields::record(&mut managed, None, &object, &writer, None);
        if ctx.dry_run {
            return Ok(at_version(&object, rt, version));
        }
        let stored = inner.commit(rt, key, object, managed, None, &self.shared.events);
        Ok(at_version(&stored, rt, version))
    }

    pub(super) fn restore_in(&self, mut object: Value) -> Result<Value, ApiError> {
        let rt = self.type_of_object(&object)?;
        check_kind(&rt, &object, &rt.version)?;
        let name = str_at(&object, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        check_name(&rt, &name)?;
        let ns = if rt.namespaced {
            let ns = str_at(&object, "/metadata/namespace")
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            let ns = ns.ok_or_else(|| {
                ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    &name,
                    "metadata.namespace",
                    "FieldValueRequired",
                    "Required value".to_string(),
                )
            })?;
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            match self.create(namespace) {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
            Some(ns)
        } else {
            None
        };
        let managed = fields::parse(object.pointer("/metadata/managedFields"));
        let now = now_rfc3339();
        let meta = meta_mut(&mut object);
        if !rt.namespaced {
            meta.remove("namespace");
        }
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.entry("uid").or_insert_with(|| json!(new_uid()));
        meta.entry("creationTimestamp")
            .or_insert_with(|| json!(now));
        if has_generation(&rt) {
            meta.entry("generation").or_insert(json!(1));
        }
        object["apiVersion"] = json!(rt.api_version());
        let managed = if managed.is_empty() {
            let api_version = rt.api_version();
            let writer = Writer {
                manager: self.context().manager,
                operation: "Update",
                subresource: None,
                api_version: &api_version,
                time: &now,
            };
            let mut created = Vec::new();
            fields::record(&mut created, None, &object, &writer, None);
            created
        } else {
            managed
        };
        let key = object_key(&rt, ns.as_deref(), &name);
        let mut inner = self.lock();
        let previous = inner
            .collection(&rt)
            .and_then(|c| c.get(&key))
            .map(|s| s.json.clone());
        Ok(inner.commit(&rt, key, object, managed, previous, &self.shared.events))
    }

    pub(crate) fn update_in(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        subresource: Option<&str>,
        ctx: &WriteContext,
    ) -> Result<Value, ApiError> {
        let version = if ctx.version.is_empty() {
            rt.version.as_str()
        } else {
            ctx.version
        };
        check_kind(rt, &object, version)?;
        let body_name = str_at(&object, "/metadata/name").unwrap_or_default();
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let (Some(url), Some(body)) = (namespace, str_at(&object, "/metadata/namespace")) {
            if rt.namespaced && url != body {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        self.write(
            rt,
            namespace,
            name,
            subresource,
            ctx,
            ("Update", None),
            |_| Ok(object),
        )
    }

    pub(crate) fn patch_in(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        patch: Patch,
        subresource: Option<&str>,
        ctx: &WriteContext,
    ) -> Result<Value, ApiError> {
        let version = if ctx.version.is_empty() {
            rt.version.clone()
        } else {
            ctx.version.to_string()
        };
        if let Patch::Apply(config) = &patch {
            check_kind(rt, config, &version)?;
            let exists = self.get_in(rt, namespace, name).is_ok();
            if !exists && subresource.is_none() {
                let mut config = config.clone();
                meta_mut(&mut config).insert("name".to_string(), json!(name));
                return self.create_op(rt, namespace, config, ctx, "Apply");
            }
        }
        let (operation, applied) = match &patch {
            Patch::Apply(config) => ("Apply", Some(fields::applied_fields(config))),
            _ => ("Update", None),
        };
        self.write(
            rt,
            namespace,
            name,
            subresource,
            ctx,
            (operation, applied),
            |current| {
                let mut patched = at_version(current, rt, &version);
                match &patch {
                    Patch::Merge(p) | Patch::Apply(p) => {
                        if !p.is_object() {
                            return Err(ApiError::bad_request("the patch must be a JSON object"));
                        }
                        json_patch::merge(&mut patched, p);
                    }
                    Patch::Json(p) => {
                        let ops: json_patch::Patch =
                            serde_json::from_value(p.clone()).map_err(|e| {
                                ApiError::bad_request(format!("invalid JSON patch: {e}"))
                            })?;
                        json_patch::patch(&mut patched, &ops).map_err(|e| ApiError::Invalid {
                            group: rt.group.clone(),
                            kind: rt.kind.clone(),
                            name: name.to_string(),
                            causes: vec![StatusCause {
                                reason: "FieldValueInvalid".to_string(),
                                message: e.to_string(),
                                field: "patch".to_string(),
                            }],
                        })?;
                    }
                }
                Ok(patched)
            },
        )
    }

    /// The shared read-modify-write path: `change` turns the current object into the candidate,
    /// then the server's rules decide what of it is kept.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        ctx: &WriteContext,
        (operation, applied): (&str, Option<BTreeSet<FieldPath>>),
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let version = if ctx.version.is_empty() {
            rt.version.as_str()
        } else {
            ctx.version
        };
        if subresource.is_some_and(|s| s != "status" || !rt.status_subresource) {
            return Err(ApiError::ResourceNotFound);
        }
        let key = object_key(rt, namespace, name);
        let mut inner = self.lock();
        let stored = inner
            .collection(rt)
            .and_then(|c| c.get(&key))
            .ok_or_else(|| not_found(rt, name))?;
        let old_json = stored.json.clone();
        let old = stored.value();
        // managedFields are kept only inside the object: read back for this write.
        let stored_managed = fields::parse(old.pointer("/metadata/managedFields"));
        let mut candidate = change(&old)?;
        if let Some(applied) = &applied {
            // Server-side apply: what this manager applied before and omits now goes, unless shared.
            let mine = |e: &&ManagedEntry| {
                e.manager == ctx.manager
                    && e.operation == "Apply"
                    && e.subresource.as_deref() == subresource
            };
            let others: BTreeSet<&FieldPath> = stored_managed
                .iter()
                .filter(|e| !mine(e))
                .flat_map(|e| &e.fields)
                .collect();
            for entry in stored_managed.iter().filter(mine) {
                for path in entry
                    .fields
                    .iter()
                    .filter(|p| !applied.contains(*p) && !others.contains(p))
                {
                    fields::remove(&mut candidate, path);
                }
            }
        }
        if !candidate.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        let sent_version = str_at(&candidate, "/metadata/resourceVersion").unwrap_or_default();
        if !sent_version.is_empty()
            && Some(sent_version) != str_at(&old, "/metadata/resourceVersion")
        {
            return Err(ApiError::Conflict {
                group: rt.group.clone(),
                resource: rt.plural.clone(),
                name: name.to_string(),
            });
        }
        candidate["apiVersion"] = json!(rt.api_version());
        candidate["kind"] = json!(rt.kind);
        let old_meta = old["metadata"].as_object().cloned().unwrap_or_default();
        let meta = meta_mut(&mut candidate);
        for field in SERVER_METADATA {
            match old_meta.get(*field) {
                Some(value) => meta.insert(field.to_string(), value.clone()),
                None => meta.remove(*field),
            };
        }
        let mut new = if subresource == Some("status") {
            let mut with_status = old.clone();
            match candidate.get("status") {
                Some(status) => with_status["status"] = status.clone(),
                None => {
                    with_status.as_object_mut().map(|o| o.remove("status"));
                }
            }
            with_status
        } else {
            if rt.status_subresource {
                match old.get("status") {
                    Some(status) => candidate["status"] = status.clone(),
                    None => {
                        candidate.as_object_mut().map(|o| o.remove("status"));
                    }
                }
            }
            candidate
        };
        if new == old {
            return Ok(at_version(&old, rt, version));
        }
        if has_generation(rt) && spec_changed(rt, &old, &new) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".to_string(), json!(generation + 1));
        }
        let now = now_rfc3339();
        let api_version = rt.api_version_for(version);
        let writer = Writer {
            manager: ctx.manager,
            operation,
            subresource,
            api_version: &api_version,
            time: &now,
        };
        let mut managed = stored_managed;
        fields::record(&mut managed, Some(&old), &new, &writer, applied);
        if ctx.dry_run {
            return Ok(at_version(&new, rt, version));
        }
        let stored = inner.commit(rt, key, new, managed, Some(old_json), &self.shared.events);
        Ok(at_version(&stored, rt, version))
    }

    pub(crate) fn delete_in(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = object_key(rt, namespace, name);
        let mut inner = self.lock();
        let exists = inner.collection(rt).is_some_and(|c| c.contains_key(&key));
        if !exists {
            return Err(not_found(rt, name));
        }
        if dry_run {
            return Ok(inner.collection(rt).expect("checked")[&key].value());
        }
        let deleted = inner.remove(rt, &key, &self.shared.events);
        if rt.group.is_empty() && rt.plural == "namespaces" {
            let namespaced: Vec<Arc<ResourceType>> = inner
                .types
                .iter()
                .filter(|t| t.namespaced)
                .cloned()
                .collect();
            for t in namespaced {
                let keys: Vec<ObjectKey> = inner
                    .collection(&t)
                    .map(|c| {
                        c.range((name.to_string(), String::new())..)
                            .take_while(|(k, _)| k.0 == name)
                            .map(|(k, _)| k.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for k in keys {
                    inner.remove(&t, &k, &self.shared.events);
                }
            }
        }
        Ok(deleted)
    }
}
