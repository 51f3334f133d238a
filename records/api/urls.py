from django.urls import path

from records.api import checkpoints, deltas, log, reads
from records.public import api as public

urlpatterns = [
    path("balance/delta", deltas.DeltaEmitView.as_view()),
    path("balance/delta/batch", deltas.DeltaBatchView.as_view()),
    path("balance/delta/<str:record_id>", deltas.DeltaStatusView.as_view()),
    path("balance/derive/<str:customer_id>", reads.DeriveView.as_view()),
    path("balance/compare", reads.CompareView.as_view()),
    path("balance/checkpoint", checkpoints.CheckpointCommitView.as_view()),
    path("balance/checkpoints", checkpoints.CheckpointListView.as_view()),
    path("balance/checkpoints/<str:checkpoint_id>", checkpoints.CheckpointDetailView.as_view()),
    path("balance/customers", reads.CustomersView.as_view()),
    path("balance/customers/<str:customer_id>", reads.CustomerDetailView.as_view()),
    path("balance/gaps/<str:customer_id>", reads.GapsView.as_view()),
    path("balance/usage", reads.UsageView.as_view()),
    path("balance/limits", reads.LimitsView.as_view()),
    path("balance/receipt/<str:customer_id>", checkpoints.ReceiptView.as_view()),
    path("balance/invoice-proof/<str:customer_id>", checkpoints.InvoiceProofView.as_view()),
    path("log/checkpoint", log.LogCheckpointView.as_view()),
    path("log/proof/inclusion", log.LogInclusionView.as_view()),
    path("log/proof/consistency", log.LogConsistencyView.as_view()),
    path("log/key", log.LogKeyView.as_view()),
    path("verify/<str:proof_root>", public.VerifyView.as_view()),
]
