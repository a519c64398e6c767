//! Services, Endpoints, EndpointSlices (upstream `pkg/registry/core/service`, `.../endpoint`).

use crate::registry::strategy::Strategy;

/// Service strategy.
pub struct Service;
/// The Service strategy instance.
pub static SERVICE: Service = Service;
impl Strategy for Service {
    fn has_status(&self) -> bool {
        true
    }
}

/// Endpoints strategy.
pub struct Endpoints;
/// The Endpoints strategy instance.
pub static ENDPOINTS: Endpoints = Endpoints;
impl Strategy for Endpoints {}

/// EndpointSlice strategy.
pub struct EndpointSlice;
/// The EndpointSlice strategy instance.
pub static ENDPOINT_SLICE: EndpointSlice = EndpointSlice;
impl Strategy for EndpointSlice {}
