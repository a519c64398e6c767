//! RBAC kinds: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

use crate::registry::strategy::{NameRule, Strategy};

/// Role and ClusterRole strategy.
pub struct Role;
/// The Role strategy instance.
pub static ROLE: Role = Role;
impl Strategy for Role {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
}

/// RoleBinding and ClusterRoleBinding strategy.
pub struct RoleBinding;
/// The RoleBinding strategy instance.
pub static ROLE_BINDING: RoleBinding = RoleBinding;
impl Strategy for RoleBinding {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
}
