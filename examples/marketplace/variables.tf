variable "namespace" {
  description = "Namespace of the shop. Change it to apply a second copy to the same cluster."
  type        = string
  default     = "shop"
}

variable "marketplace_image" {
  description = "The Flask storefront."
  type        = string
  default     = "ghcr.io/driftgate/marketplace:1.4.2"
}

variable "marketplace_replicas" {
  type    = number
  default = 2
}

variable "recommendations_image" {
  description = "The gRPC recommendations service."
  type        = string
  default     = "ghcr.io/driftgate/recommendations:0.9.0"
}

variable "database_url" {
  description = "Connection string the storefront gets through its Secret."
  type        = string
  sensitive   = true
  default     = "postgresql://marketplace:lab-only-password@marketplace-db-rw.shop.svc:5432/marketplace"
}
