//! The notification-controller emulation reading what NC reads from the API: Alerts (listed per
//! event), Providers and Secrets (fetched per event), and the involved objects (for matchLabels).

use futures::future::BoxFuture;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::Client;
use model::FluxVersion;
use serde_json::Value;

use crate::controllers::api_resource;
use crate::notify::{Alert, ConfigSource, ObjectLookup, ObjectReference, Provider, Secret};

pub struct ApiSource {
    client: Client,
    version: FluxVersion,
}

impl ApiSource {
    pub fn new(client: Client, version: FluxVersion) -> Self {
        Self { client, version }
    }

    fn resource(&self, kind: &str) -> Result<ApiResource, String> {
        if kind == "Secret" {
            return Ok(ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()));
        }
        model::kinds::by_kind(kind)
            .and_then(|k| api_resource(k, self.version))
            .ok_or_else(|| format!("the server doesn't have a resource type for kind {kind}"))
    }

    async fn get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &self.resource(kind)?);
        match api.get_opt(name).await {
            Ok(found) => Ok(found.and_then(|o| serde_json::to_value(o).ok())),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn not_found(plural: &str, name: &str) -> String {
    format!("{plural} \"{name}\" not found")
}

impl ConfigSource for ApiSource {
    fn alerts(&self) -> BoxFuture<'_, Result<Vec<Alert>, String>> {
        Box::pin(async move {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &self.resource("Alert")?);
            let list = api.list(&Default::default()).await.map_err(|e| e.to_string())?;
            Ok(list
                .items
                .iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .filter_map(|v| Alert::from_object(&v).map_err(|e| tracing::warn!("skipping Alert: {e}")).ok())
                .collect())
        })
    }

    fn provider<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<Provider, String>> {
        Box::pin(async move {
            let obj = self
                .get("Provider", namespace, name)
                .await?
                .ok_or_else(|| not_found("providers.notification.toolkit.fluxcd.io", name))?;
            Provider::from_object(&obj)
        })
    }

    fn secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<Secret, String>> {
        Box::pin(async move {
            let obj = self.get("Secret", namespace, name).await?.ok_or_else(|| not_found("secrets", name))?;
            Secret::from_object(&obj)
        })
    }
}

impl ObjectLookup for ApiSource {
    fn get<'a>(&'a self, object: &'a ObjectReference) -> BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async move { ApiSource::get(self, &object.kind, &object.namespace, &object.name).await })
    }
}
