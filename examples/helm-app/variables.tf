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
