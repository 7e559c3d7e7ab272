variable "namespace" {
  description = "Namespace of the release (and of the release record Helm keeps)."
  type        = string
  default     = "helm-app"
}

variable "release_name" {
  type    = string
  default = "web"
}

variable "greeting" {
  description = "The chart's greeting value (its ConfigMap). Change it and apply: a Helm upgrade by Terraform, not drift."
  type        = string
  default     = "hello"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "ingress" {
  description = "Whether the chart renders its Ingress. Turn it off and apply: Helm deletes the Ingress on purpose, not drift."
  type        = bool
  default     = true
}

variable "api_token" {
  description = "The app's API token: the chart's Secret, passed with set_sensitive. It is in Helm's release record too; driftgate never reads it out."
  type        = string
  sensitive   = true
  default     = "lab-only-token"
}
