//! Secrets Manager adapter: one secret per tenant and name, `{prefix}{tenant}/{name}`, so IAM can
//! scope access to the prefix and a tenant id can never reach another tenant's secret.

use super::port_error;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use secrecy::{ExposeSecret, SecretString};
use shared::ports::{PortError, SecretName, SecretStore};
use shared::tenant::TenantId;

#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
    prefix: String,
}

impl SecretsManagerStore {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into() }
    }

    pub fn secret_id(&self, tenant: &TenantId, name: SecretName) -> String {
        format!("{}{}/{}", self.prefix, tenant, name.as_str())
    }

    /// Reads a secret by full id (the PSA JWT key, which is not per tenant).
    pub async fn get_raw(&self, id: &str) -> Result<Option<SecretString>, PortError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => Ok(out.secret_string.map(SecretString::from)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(port_error(e)),
        }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, tenant: &TenantId, name: SecretName) -> Result<Option<SecretString>, PortError> {
        self.get_raw(&self.secret_id(tenant, name)).await
    }

    async fn put(&self, tenant: &TenantId, name: SecretName, value: &SecretString) -> Result<(), PortError> {
        let id = self.secret_id(tenant, name);
        match self.client.put_secret_value().secret_id(&id).secret_string(value.expose_secret()).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                match self
                    .client
                    .create_secret()
                    .name(&id)
                    .secret_string(value.expose_secret())
                    .tags(aws_sdk_secretsmanager::types::Tag::builder().key("tenant").value(tenant.as_str()).build())
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    // Lost a race with a concurrent create: write the value again.
                    Err(e) if e.code() == Some("ResourceExistsException") => self
                        .client
                        .put_secret_value()
                        .secret_id(&id)
                        .secret_string(value.expose_secret())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(port_error),
                    Err(e) => Err(port_error(e)),
                }
            }
            Err(e) => Err(port_error(e)),
        }
    }

    async fn delete(&self, tenant: &TenantId, name: SecretName) -> Result<(), PortError> {
        let id = self.secret_id(tenant, name);
        match self.client.delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(port_error(e)),
        }
    }
}
