variable "namespace" {
  description = "Namespace of the Kubernetes half. Change it to apply a second copy to the same cluster."
  type        = string
  default     = "mixed"
}

variable "files_dir" {
  description = <<-EOT
    Absolute directory for the rendered files. Absolute on purpose: driftgate
    plans in a copy of the module, so a path under path.module would name a
    file in that copy, not the one apply wrote.
  EOT
  type        = string
  default     = "/tmp/driftgate-mixed"
}

variable "log_level" {
  type    = string
  default = "info"
}
