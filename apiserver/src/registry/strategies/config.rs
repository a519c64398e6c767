//! ConfigMaps, Secrets, ServiceAccounts.

use crate::registry::strategy::Strategy;

/// ConfigMap strategy.
pub struct ConfigMap;
/// The ConfigMap strategy instance.
pub static CONFIG_MAP: ConfigMap = ConfigMap;
impl Strategy for ConfigMap {}

/// Secret strategy.
pub struct Secret;
/// The Secret strategy instance.
pub static SECRET: Secret = Secret;
impl Strategy for Secret {}

/// ServiceAccount strategy.
pub struct ServiceAccount;
/// The ServiceAccount strategy instance.
pub static SERVICE_ACCOUNT: ServiceAccount = ServiceAccount;
impl Strategy for ServiceAccount {}
