output "namespace" {
  value = local.ns
}

output "marketplace_node_port" {
  description = "The NodePort the API server allocated to the storefront."
  value       = kubernetes_service.marketplace.spec[0].port[0].node_port
}
