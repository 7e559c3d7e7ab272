# The seed system: a Flask storefront (marketplace) that calls a gRPC
# recommendations service. Ten Kubernetes objects: seven through typed
# hashicorp/kubernetes resources, three through gavinbunney/kubectl's
# kubectl_manifest (the ServiceAccount, because hashicorp/kubernetes 1.13.4
# waits for a token Secret that Kubernetes no longer creates, and the
# recommendations Deployment and Service, as teams that paste YAML do).
#
# Deployments never wait for their rollout: the lab runs no kubelet.

locals {
  ns = kubernetes_namespace.shop.metadata[0].name

  marketplace_labels = {
    "app.kubernetes.io/name"    = "marketplace"
    "app.kubernetes.io/part-of" = "shop"
  }
  recommendations_labels = {
    "app.kubernetes.io/name"    = "recommendations"
    "app.kubernetes.io/part-of" = "shop"
  }
}

resource "kubernetes_namespace" "shop" {
  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of" = "shop"
    }
  }
}

resource "kubernetes_config_map" "marketplace" {
  metadata {
    name      = "marketplace-config"
    namespace = local.ns
    labels    = local.marketplace_labels
  }

  data = {
    FLASK_ENV            = "production"
    LOG_LEVEL            = "info"
    RECOMMENDATIONS_ADDR = "recommendations.${local.ns}.svc.cluster.local:50051"
  }
}

resource "kubernetes_secret" "marketplace" {
  metadata {
    name      = "marketplace-db"
    namespace = local.ns
    labels    = local.marketplace_labels
  }

  type = "Opaque"
  data = {
    DATABASE_URL = var.database_url
  }
}

resource "kubectl_manifest" "marketplace_service_account" {
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "ServiceAccount"
    metadata = {
      name      = "marketplace"
      namespace = local.ns
      labels    = local.marketplace_labels
    }
  })
}

resource "kubernetes_role" "marketplace" {
  metadata {
    name      = "marketplace"
    namespace = local.ns
    labels    = local.marketplace_labels
  }

  rule {
    api_groups = [""]
    resources  = ["configmaps"]
    verbs      = ["get", "list", "watch"]
  }

  rule {
    api_groups     = [""]
    resources      = ["secrets"]
    resource_names = ["marketplace-db"]
    verbs          = ["get"]
  }
}

resource "kubernetes_role_binding" "marketplace" {
  metadata {
    name      = "marketplace"
    namespace = local.ns
    labels    = local.marketplace_labels
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role.marketplace.metadata[0].name
  }

  subject {
    kind      = "ServiceAccount"
    name      = "marketplace"
    namespace = local.ns
  }
}

resource "kubernetes_deployment" "marketplace" {
  metadata {
    name      = "marketplace"
    namespace = local.ns
    labels    = local.marketplace_labels
  }

  spec {
    replicas = var.marketplace_replicas

    selector {
      match_labels = {
        "app.kubernetes.io/name" = "marketplace"
      }
    }

    template {
      metadata {
        labels = local.marketplace_labels
      }

      spec {
        service_account_name = "marketplace"

        container {
          name  = "marketplace"
          image = var.marketplace_image
          args  = ["gunicorn", "--bind", "0.0.0.0:5000", "marketplace.app:app"]

          port {
            name           = "http"
            container_port = 5000
          }

          env_from {
            config_map_ref {
              name = kubernetes_config_map.marketplace.metadata[0].name
            }
          }

          env_from {
            secret_ref {
              name = kubernetes_secret.marketplace.metadata[0].name
            }
          }

          resources {
            requests {
              cpu    = "100m"
              memory = "128Mi"
            }
            limits {
              cpu    = "500m"
              memory = "256Mi"
            }
          }

          readiness_probe {
            http_get {
              path = "/healthz"
              port = 5000
            }
          }
        }
      }
    }
  }

  wait_for_rollout = false
  depends_on       = [kubectl_manifest.marketplace_service_account]
}

resource "kubernetes_service" "marketplace" {
  metadata {
    name      = "marketplace"
    namespace = local.ns
    labels    = local.marketplace_labels
  }

  spec {
    type     = "NodePort"
    selector = { "app.kubernetes.io/name" = "marketplace" }

    port {
      name        = "http"
      port        = 80
      target_port = 5000
    }
  }
}

resource "kubectl_manifest" "recommendations_deployment" {
  wait_for_rollout = false

  yaml_body = yamlencode({
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata = {
      name      = "recommendations"
      namespace = local.ns
      labels    = local.recommendations_labels
    }
    spec = {
      replicas = 1
      selector = { matchLabels = { "app.kubernetes.io/name" = "recommendations" } }
      template = {
        metadata = { labels = local.recommendations_labels }
        spec = {
          containers = [{
            name  = "recommendations"
            image = var.recommendations_image
            ports = [{ name = "grpc", containerPort = 50051 }]
            resources = {
              requests = { cpu = "50m", memory = "64Mi" }
            }
          }]
        }
      }
    }
  })
}

resource "kubectl_manifest" "recommendations_service" {
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Service"
    metadata = {
      name      = "recommendations"
      namespace = local.ns
      labels    = local.recommendations_labels
    }
    spec = {
      type     = "ClusterIP"
      selector = { "app.kubernetes.io/name" = "recommendations" }
      ports    = [{ name = "grpc", port = 50051, targetPort = 50051 }]
    }
  })
}
