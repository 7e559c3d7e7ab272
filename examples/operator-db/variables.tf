variable "namespace" {
  type    = string
  default = "db"
}

variable "cluster_name" {
  type    = string
  default = "marketplace-db"
}

variable "instances" {
  type    = number
  default = 3
}

variable "app_password" {
  description = "Password of the database's application user."
  type        = string
  sensitive   = true
  default     = "lab-only-password"
}
