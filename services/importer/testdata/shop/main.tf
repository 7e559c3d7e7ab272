# A small workspace for the importer's lab tests: a namespace, a Deployment,
# a Service and a ConfigMap, as a team would have created them by hand.
terraform {
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "1.13.4"
    }
  }
  backend "s3" {}
}

# The provider reads KUBECONFIG.
provider "kubernetes" {}

variable "namespace" {
  type = string
}

variable "replicas" {
  type    = number
  default = 2
}

resource "kubernetes_namespace" "shop" {
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_config_map" "settings" {
  metadata {
    name      = "settings"
    namespace = kubernetes_namespace.shop.metadata[0].name
  }
  data = {
    currency = "EUR"
  }
}

resource "kubernetes_deployment" "web" {
  metadata {
    name      = "web"
    namespace = kubernetes_namespace.shop.metadata[0].name
    labels    = { app = "web" }
  }
  spec {
    replicas = var.replicas
    selector {
      match_labels = { app = "web" }
    }
    template {
      metadata {
        labels = { app = "web" }
      }
      spec {
        container {
          name  = "web"
          image = "registry.example/web:1.0"
        }
      }
    }
  }
  # The lab has no kubelet: pods never become ready.
  wait_for_rollout = false
}

resource "kubernetes_service" "web" {
  metadata {
    name      = "web"
    namespace = kubernetes_namespace.shop.metadata[0].name
  }
  spec {
    selector = { app = "web" }
    port {
      port        = 80
      target_port = 8080
    }
  }
}
