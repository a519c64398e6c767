//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//! (Being written; see issue 4.)
