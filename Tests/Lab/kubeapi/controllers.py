"""Simulated controllers: what would make the things Parvester waits on become true in a real cluster.

They run every TICK seconds over every cluster, holding its lock, and only ever write status (or
create the objects a real operator would create). Delays are short but never zero, so a client that
does not wait breaks here as it would on a real cluster.
"""
import copy
import ipaddress
import os
import threading
import time
import urllib.parse
import urllib.request

import yaml

from . import vmistreams, uploadproxy, virtapi
from .resources import Resource
from .store import crd_resources, now

TICK = 0.2
NODE_READY_SECONDS = 2.0     # kubelet registered → Ready
# A Terminating namespace's content is deleted this long after the namespace (the namespace controller
# works from a queue; the recordings show a ConfigMap still untouched several requests after the DELETE).
NAMESPACE_CONTENT_SECONDS = 3.0
NODE_LOST_SECONDS = 20.0     # no heartbeat from the RKE2 double → NotReady
CRD_SECONDS = 0.2            # CRD created or changed → Established (kube-apiserver: 100-250 ms)
WORKLOAD_SECONDS = 1.5       # Deployment/DaemonSet/StatefulSet generation → available
OPERATOR_SECONDS = 2.0       # operator available → its CR's components deployed
IMPORT_SECONDS = 2.0         # DataVolume import duration
VMI_SECONDS = 1.5            # VMI created → Running
ETCD_REMOVE_SECONDS = 1.0    # a server's Node deleted → its etcd member removed, the finalizer dropped
ETCD_FINALIZER = "wrangler.cattle.io/managed-etcd-controller"
LAB_NETWORKS = [ipaddress.ip_network("10.251.0.0/16"), ipaddress.ip_network("127.0.0.0/8")]

KUBEVIRT_CRDS = [("virtualmachines", "VirtualMachine", ["vm", "vms"]),
                 ("virtualmachineinstances", "VirtualMachineInstance", ["vmi", "vmis"]),
                 ("virtualmachineinstancemigrations", "VirtualMachineInstanceMigration", ["vmim"]),
                 ("virtualmachineinstancereplicasets", "VirtualMachineInstanceReplicaSet", ["vmirs"])]
# CDI's operator installs the CRDs of cdi-crds.yaml (all but the CDI CRD itself, which its release
# file carries): the real ones, with their structural schemas, from the project's shared/ folder.
UPSTREAM = os.environ.get("PARVESTER_UPSTREAM_MANIFESTS") or \
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/upstream-manifests"))
_CDI_CRDS = []


def cdi_crds():
    if not _CDI_CRDS:
        with open(os.path.join(UPSTREAM, "cdi-crds.yaml")) as f:
            _CDI_CRDS.extend(d for d in yaml.safe_load_all(f) if d and d["metadata"]["name"] != "cdis.cdi.kubevirt.io")
    return _CDI_CRDS


def condition(kind, status, reason="", message=""):
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": now(), "lastProbeTime": None}


def has_condition(obj, kind, status="True"):
    return any(c.get("type") == kind and c.get("status") == status for c in (obj.get("status") or {}).get("conditions") or [])


def keep_times(old, new):
    """Conditions keep their transition time while their status stays, so an unchanged world writes
    nothing (and resourceVersion stays put)."""
    previous = {c.get("type"): c for c in (old or {}).get("conditions") or []}
    for c in new.get("conditions") or []:
        before = previous.get(c["type"])
        if before and before.get("status") == c["status"]:
            c["lastTransitionTime"] = before.get("lastTransitionTime")
    return new


class Controllers:
    def __init__(self, clusters):
        self.clusters = clusters  # callable returning the current clusters
        self.clock = {}  # (uid, what) -> first time seen

    def start(self):
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            for cluster in self.clusters():
                try:
                    with cluster.lock:
                        self.tick(cluster)
                except Exception as error:  # one bad object must not stop the cluster's controllers
                    print(f"controllers: {cluster.id[:12]}: {error!r}", flush=True)
            time.sleep(TICK)

    def since(self, obj, what):
        """Seconds since this object was first seen in this state (e.g. at this generation)."""
        key = (obj["metadata"]["uid"], what)
        return time.time() - self.clock.setdefault(key, time.time())

    def each(self, cluster, group, plural):
        bucket = cluster.objects.get((group, plural), {})
        resource = next((r for r in cluster.registry.all() if r.group == group and r.plural == plural), None)
        return resource, list(bucket.values())

    def tick(self, cluster):
        self.finalizers(cluster)
        self.etcd_members(cluster)
        self.nodes(cluster)
        self.crds(cluster)
        self.disruption_budgets(cluster)
        self.workloads(cluster)
        self.operator(cluster, "kubevirt.io", "kubevirts", "virt-operator", self.deploy_kubevirt)
        self.operator(cluster, "cdi.kubevirt.io", "cdis", "cdi-operator", self.deploy_cdi)
        self.datavolumes(cluster)
        self.virtual_machines(cluster)
        self.garbage(cluster)
        self.pods(cluster)

    # --------------------------------------------------------------------------------- finalizers

    def finalizers(self, cluster):
        """The namespace controller and the CRD cleanup finalizer: what was deleted goes, its contents first."""
        _, namespaces = self.each(cluster, "", "namespaces")
        for ns in namespaces:
            if ns["metadata"].get("deletionTimestamp") and self.since(ns, "terminating") >= NAMESPACE_CONTENT_SECONDS:
                cluster.finish_namespace(ns)
        _, crds = self.each(cluster, "apiextensions.k8s.io", "customresourcedefinitions")
        for crd in crds:
            if crd["metadata"].get("deletionTimestamp"):
                cluster.finish_crd(crd)

    def etcd_members(self, cluster):
        """RKE2's etcd member controller: a deleted server Node keeps its finalizer until its etcd member is
        removed. etcd takes one membership change at a time, so a second deletion waits for the first."""
        resource, nodes = self.each(cluster, "", "nodes")
        pending = [n for n in nodes if n["metadata"].get("deletionTimestamp") and ETCD_FINALIZER in (n["metadata"].get("finalizers") or [])]
        if cluster.etcd_removing and cluster.etcd_removing[0] not in {n["metadata"]["name"] for n in pending}:
            cluster.etcd_removing = None
        if not pending:
            return
        if cluster.etcd_removing is None:
            cluster.etcd_removing = (sorted(pending, key=lambda n: n["metadata"]["deletionTimestamp"])[0]["metadata"]["name"], time.time())
        name, since = cluster.etcd_removing
        if time.time() - since < ETCD_REMOVE_SECONDS:
            return
        node = next(n for n in pending if n["metadata"]["name"] == name)
        cluster.etcd_members.discard(name)
        after = copy.deepcopy(node)
        after["metadata"]["finalizers"] = [f for f in node["metadata"]["finalizers"] if f != ETCD_FINALIZER]
        cluster.commit(resource, ("", name), node, after, False)  # the last finalizer gone: the Node goes
        cluster.node_index.pop(name, None)
        cluster.etcd_removing = None

    def disruption_budgets(self, cluster):
        resource, pdbs = self.each(cluster, "policy", "poddisruptionbudgets")
        for pdb in pdbs:
            namespace = pdb["metadata"]["namespace"]
            needs, healthy = cluster.pdb_health(namespace, pdb)
            allowed = max(0, healthy - needs)
            status = {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": allowed,
                      "currentHealthy": healthy, "desiredHealthy": needs,
                      "expectedPods": sum(1 for (ns, _), p in cluster.objects.get(("", "pods"), {}).items() if ns == namespace),
                      "conditions": [condition("DisruptionAllowed", "True" if allowed else "False",
                                               "SufficientPods" if allowed else "InsufficientPods", "")]}
            cluster.set_status(resource, pdb, keep_times(pdb.get("status"), status), manager="kube-controller-manager")

    # -------------------------------------------------------------------------------------- nodes

    def nodes(self, cluster):
        resource, nodes = self.each(cluster, "", "nodes")
        for node in nodes:
            name = node["metadata"]["name"]
            heartbeat = cluster.node_index.get(name, 0)
            registered = min(self.since(node, "registered"), time.time() - cluster.node_restarts.get(name, 0))
            ready = registered >= NODE_READY_SECONDS and time.time() - heartbeat < NODE_LOST_SECONDS
            status = dict(node.get("status") or {})
            reason, message = ("KubeletReady", "kubelet is posting ready status") if ready else \
                ("KubeletNotReady", "container runtime network not ready") if registered < NODE_READY_SECONDS else \
                ("NodeStatusUnknown", "Kubelet stopped posting node status.")
            status["conditions"] = [condition("Ready", "True" if ready else ("False" if registered < NODE_READY_SECONDS else "Unknown"), reason, message)]
            cluster.set_status(resource, node, keep_times(node.get("status"), status))

    def ready_nodes(self, cluster):
        _, nodes = self.each(cluster, "", "nodes")
        return [n for n in nodes if has_condition(n, "Ready")]

    # --------------------------------------------------------------------------------------- CRDs

    def crds(self, cluster):
        resource, crds = self.each(cluster, "apiextensions.k8s.io", "customresourcedefinitions")
        for crd in crds:
            generation = crd["metadata"].get("generation", 1)
            if (crd.get("status") or {}).get("observedGeneration") == generation and has_condition(crd, "Established"):
                continue
            if crd["metadata"].get("deletionTimestamp") or has_condition(crd, "NamesAccepted", "False"):
                continue
            if self.since(crd, f"generation-{generation}") < CRD_SECONDS:
                continue
            names = (crd.get("spec") or {}).get("names") or {}
            stored = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
            conflict = self.name_conflict(crds, crd)
            if conflict:
                # the names controller of apiextensions-apiserver: the CRD is kept, never Established
                reason, message = conflict
                status = {"conditions": [condition("NamesAccepted", "False", reason, message),
                                         condition("Established", "False", "NotAccepted", "not all names are accepted")],
                          "acceptedNames": {k: v for k, v in names.items() if k in ("plural", "singular", "kind")}, "storedVersions": stored}
                cluster.set_status(resource, crd, keep_times(crd.get("status"), status), manager="kube-apiserver")
                continue
            cluster.registry.replace_origin(crd["metadata"]["name"], crd_resources(crd))
            status = {"conditions": [condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                                     condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted")],
                      "acceptedNames": names, "storedVersions": stored}
            cluster.set_status(resource, crd, keep_times(crd.get("status"), status), manager="kube-apiserver")

    @staticmethod
    def name_conflict(crds, crd):
        """(reason, message) when another accepted CRD of the same group already uses one of its names."""
        spec, names = crd.get("spec") or {}, (crd.get("spec") or {}).get("names") or {}
        for other in crds:
            if other is crd or (other.get("spec") or {}).get("group") != spec.get("group") or not has_condition(other, "NamesAccepted"):
                continue
            theirs = (other.get("status") or {}).get("acceptedNames") or {}
            for field, reason in (("plural", "PluralConflict"), ("kind", "KindConflict"), ("listKind", "ListKindConflict")):
                if names.get(field) and names.get(field) == theirs.get(field):
                    return reason, f'"{names[field]}" is already in use'
        return None

    # ---------------------------------------------------------------------------------- workloads

    def workloads(self, cluster):
        ready = len(self.ready_nodes(cluster))
        for plural in ("deployments", "daemonsets", "statefulsets"):
            resource, objects = self.each(cluster, "apps", plural)
            for obj in objects:
                generation = obj["metadata"].get("generation", 1)
                settled = self.since(obj, f"generation-{generation}") >= WORKLOAD_SECONDS and ready > 0
                if plural == "daemonsets":
                    desired = ready
                    count = ready if settled else 0
                    status = {"currentNumberScheduled": desired, "desiredNumberScheduled": desired, "numberMisscheduled": 0,
                              "numberReady": count, "numberAvailable": count, "updatedNumberScheduled": count,
                              "observedGeneration": generation}
                    if count < desired:
                        status["numberUnavailable"] = desired - count
                else:
                    desired = (obj.get("spec") or {}).get("replicas", 1)
                    count = desired if settled else 0
                    status = {"observedGeneration": generation, "replicas": desired, "updatedReplicas": count,
                              "readyReplicas": count, "availableReplicas": count}
                    if plural == "deployments":
                        status["conditions"] = [
                            condition("Available", "True" if settled else "False",
                                      "MinimumReplicasAvailable" if settled else "MinimumReplicasUnavailable",
                                      "Deployment has minimum availability." if settled else
                                      ("no Ready node to schedule pods on" if ready == 0 else "Deployment does not have minimum availability.")),
                            condition("Progressing", "True", "NewReplicaSetAvailable" if settled else "ReplicaSetUpdated", "")]
                        if count < desired:
                            status["unavailableReplicas"] = desired - count
                    else:
                        status.update({"currentReplicas": count, "currentRevision": f"{obj['metadata']['name']}-{generation}",
                                       "updateRevision": f"{obj['metadata']['name']}-{generation}"})
                    status = {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}
                cluster.set_status(resource, obj, keep_times(obj.get("status"), status), manager="kube-controller-manager")

    def available(self, cluster, plural, namespace, name):
        obj = cluster.objects.get(("apps", plural), {}).get((namespace, name))
        if obj is None:
            return False
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"].get("generation"):
            return False
        if plural == "daemonsets":
            return status.get("desiredNumberScheduled", 0) > 0 and status.get("numberAvailable") == status.get("desiredNumberScheduled")
        return status.get("availableReplicas", 0) >= obj["spec"].get("replicas", 1)

    # ---------------------------------------------------------------------------------- operators

    def operator(self, cluster, group, plural, operator_name, deploy):
        """A KubeVirt or CDI CR: nothing happens without its operator Deployment (a real CR just sits
        there with no status); with it, the operator deploys the components, then reports Available."""
        resource, objects = self.each(cluster, group, plural)
        for cr in objects:
            namespace = self.operator_namespace(cluster, operator_name)
            if namespace is None or not self.available(cluster, "deployments", namespace, operator_name):
                continue
            if self.since(cr, f"operator-{namespace}") < OPERATOR_SECONDS:
                status = {"phase": "Deploying", "conditions": [condition("Available", "False", "DeploymentInProgress", "Deploying version")]}
            else:
                components_ready = deploy(cluster, namespace)
                if components_ready:
                    status = {"phase": "Deployed", "observedGeneration": cr["metadata"].get("generation", 1),
                              "conditions": [condition("Available", "True", "AllResourcesReady", "All components are ready."),
                                             condition("Progressing", "False", "AllResourcesReady", "All components are ready."),
                                             condition("Degraded", "False", "AllResourcesReady", "All components are ready.")]}
                else:
                    status = {"phase": "Deploying", "conditions": [
                        condition("Available", "False", "DeploymentInProgress", "Deploying version"),
                        condition("Progressing", "True", "DeploymentInProgress", "Deploying version")]}
            if group == "kubevirt.io":
                status["observedKubeVirtVersion"] = "v1.1.1"
            cluster.set_status(resource, cr, keep_times(cr.get("status"), status))

    def operator_namespace(self, cluster, name):
        for (namespace, obj_name) in cluster.objects.get(("apps", "deployments"), {}):
            if obj_name == name:
                return namespace
        return None

    def ensure(self, cluster, group, version, plural, obj):
        resource = cluster.registry.find(group, version, plural)
        meta = obj["metadata"]
        if (meta.get("namespace", ""), meta["name"]) not in cluster.objects.get(resource.key, {}):
            cluster.put_system(resource, obj, manager="lab-operator")

    def ensure_crds(self, cluster, group, version, definitions):
        for plural, kind, short, *scope in definitions:
            subresources = {"status": {}}
            self.ensure(cluster, "apiextensions.k8s.io", "v1", "customresourcedefinitions", {
                "metadata": {"name": f"{plural}.{group}"},
                "spec": {"group": group, "scope": scope[0] if scope else "Namespaced",
                         "names": {"plural": plural, "kind": kind, "singular": kind.lower(), "shortNames": short, "listKind": kind + "List"},
                         "versions": [{"name": version, "served": True, "storage": True, "subresources": subresources,
                                       "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})

    def ensure_components(self, cluster, namespace, deployments, daemonsets):
        for name in deployments:
            labels = {"kubevirt.io": name} if namespace != "cdi" else {"cdi.kubevirt.io": name}
            self.ensure(cluster, "apps", "v1", "deployments", {
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": f"lab/{name}"}]}}}})
        for name in daemonsets:
            labels = {"kubevirt.io": name}
            self.ensure(cluster, "apps", "v1", "daemonsets", {
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": f"lab/{name}"}]}}}})
        return all(self.available(cluster, "deployments", namespace, n) for n in deployments) and \
            all(self.available(cluster, "daemonsets", namespace, n) for n in daemonsets)

    def deploy_kubevirt(self, cluster, namespace):
        self.ensure_crds(cluster, "kubevirt.io", "v1", KUBEVIRT_CRDS)
        # virt-api's aggregated API: start, stop and restart of VirtualMachines.
        cluster.registry.replace_origin("apiservice:v1.subresources.kubevirt.io", [Resource(
            virtapi.GROUP, virtapi.VERSION, "virtualmachines", "VirtualMachine", True, has_status=False, verbs=(),
            subresources=tuple((action, ["update"]) for action in virtapi.ACTIONS), origin="apiservice:v1.subresources.kubevirt.io"),
            # ... and the VMI streams (console, vnc) and screenshot: see vmistreams.py.
            Resource(virtapi.GROUP, virtapi.VERSION, "virtualmachineinstances", "VirtualMachineInstance", True, has_status=False, verbs=(),
                     subresources=tuple((kind, ["get"]) for kind in vmistreams.KINDS), origin="apiservice:v1.subresources.kubevirt.io")])
        return self.ensure_components(cluster, namespace, ["virt-api", "virt-controller"], ["virt-handler"])

    def deploy_cdi(self, cluster, namespace):
        for crd in cdi_crds():
            self.ensure(cluster, "apiextensions.k8s.io", "v1", "customresourcedefinitions", copy.deepcopy(crd))
        self.ensure(cluster, "", "v1", "services", {
            "metadata": {"name": "cdi-uploadproxy", "namespace": namespace, "labels": {"cdi.kubevirt.io": "cdi-uploadproxy"}},
            "spec": {"selector": {"cdi.kubevirt.io": "cdi-uploadproxy"}, "ports": [{"port": 443, "targetPort": 8443, "protocol": "TCP"}]}})
        # cdi-apiserver's aggregated API (upload tokens); the upload proxy's signer CA and its URL, as CDI
        # publishes them (CDIConfig's status.uploadProxyURL: here the lab's one proxy, on the host).
        cluster.registry.replace_origin("apiservice:v1beta1.upload.cdi.kubevirt.io", [Resource(
            uploadproxy.GROUP, uploadproxy.VERSION, "uploadtokenrequests", "UploadTokenRequest", True, has_status=False,
            verbs=("create",), origin="apiservice:v1beta1.upload.cdi.kubevirt.io")])
        if uploadproxy.SIGNER_BUNDLE["ca"]:
            self.ensure(cluster, "", "v1", "configmaps", {
                "metadata": {"name": "cdi-uploadproxy-signer-bundle", "namespace": namespace},
                "data": {"ca-bundle.crt": uploadproxy.SIGNER_BUNDLE["ca"]}})
        config_resource = cluster.registry.find("cdi.kubevirt.io", "v1beta1", "cdiconfigs")
        if config_resource is not None:
            self.ensure(cluster, "cdi.kubevirt.io", "v1beta1", "cdiconfigs", {"metadata": {"name": "config"}, "spec": {}})
            config = cluster.objects[config_resource.key][("", "config")]
            url = (config.get("spec") or {}).get("uploadProxyURLOverride") or self.upload_proxy_ingress_host(cluster, namespace)
            cluster.set_status(config_resource, config, {"uploadProxyURL": url} if url else {})
        return self.ensure_components(cluster, namespace, ["cdi-apiserver", "cdi-deployment", "cdi-uploadproxy"], [])

    def upload_proxy_ingress_host(self, cluster, namespace):
        """CDI's getURLFromIngress: the host of a rule routing to the cdi-uploadproxy service."""
        _, ingresses = self.each(cluster, "networking.k8s.io", "ingresses")
        for ingress in ingresses:
            if ingress["metadata"].get("namespace") != namespace:
                continue
            spec = ingress.get("spec") or {}
            default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
            if default:
                if default == "cdi-uploadproxy" and spec.get("rules"):
                    return spec["rules"][0].get("host")
                continue
            for rule in spec.get("rules") or []:
                for path in (rule.get("http") or {}).get("paths") or []:
                    if ((path.get("backend") or {}).get("service") or {}).get("name") == "cdi-uploadproxy" and rule.get("host"):
                        return rule["host"]
        return None

    # -------------------------------------------------------------------------------- DataVolumes

    def datavolumes(self, cluster):
        resource, dvs = self.each(cluster, "cdi.kubevirt.io", "datavolumes")
        pvc_resource = cluster.registry.find("", "v1", "persistentvolumeclaims")
        for dv in dvs:
            if (dv.get("status") or {}).get("phase") == "Succeeded":
                continue
            spec, meta = dv.get("spec") or {}, dv["metadata"]
            source = spec.get("source") or {}
            storage = spec.get("storage") or spec.get("pvc") or {}
            self.ensure(cluster, "", "v1", "persistentvolumeclaims", {
                "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": {"app": "containerized-data-importer"},
                             "ownerReferences": [{"apiVersion": resource.group_version, "kind": "DataVolume", "name": meta["name"],
                                                  "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "spec": {"accessModes": storage.get("accessModes", ["ReadWriteOnce"]), "resources": storage.get("resources", {}),
                         "storageClassName": storage.get("storageClassName", "local-path")}})
            pvc = cluster.objects[pvc_resource.key][(meta["namespace"], meta["name"])]
            cluster.set_status(pvc_resource, pvc, {"phase": "Bound", "accessModes": storage.get("accessModes", ["ReadWriteOnce"]),
                                                   "capacity": (storage.get("resources") or {}).get("requests", {})})
            elapsed = self.since(dv, "created")
            if "blank" in source:
                phase, progress, error = ("Succeeded", "100.0%", None) if elapsed >= IMPORT_SECONDS / 2 else ("ImportInProgress", "N/A", None)
            elif "http" in source:
                phase, progress, error = self.http_import(dv, source["http"].get("url", ""), elapsed)
            elif "upload" in source:
                phase, progress, error = "UploadReady", "N/A", None  # the upload proxy completes it
            else:
                phase, progress, error = "Pending", "N/A", "the lab double imports only http, blank and upload sources"
            conditions = [condition("Bound", "True", "Bound", f"PVC {meta['name']} Bound"),
                          condition("Ready", "True" if phase == "Succeeded" else "False", "Completed" if phase == "Succeeded" else "TransferRunning"),
                          condition("Running", "False" if phase == "Succeeded" or error else "True",
                                    "Completed" if phase == "Succeeded" else ("Error" if error else "Pod is running"), error or "")]
            status = {"phase": phase, "progress": progress, "conditions": conditions}
            cluster.set_status(resource, dv, keep_times(dv.get("status"), status))

    def http_import(self, dv, url, elapsed):
        """The importer pod downloads the URL; here the download is checked once, off the lock."""
        key = (dv["metadata"]["uid"], "import-result")
        if key not in self.clock:
            self.clock[key] = None
            threading.Thread(target=self.fetch, args=(key, url), daemon=True).start()
        result = self.clock[key]
        if result is None or elapsed < IMPORT_SECONDS:
            return "ImportInProgress", f"{min(99.0, 100 * elapsed / IMPORT_SECONDS):.2f}%", None
        if result is True:
            return "Succeeded", "100.0%", None
        return "ImportInProgress", "N/A", f"Unable to connect to http data source: {result}"

    def fetch(self, key, url):
        try:
            host = urllib.parse.urlparse(url).hostname or ""
            if not any(ipaddress.ip_address(host) in net for net in LAB_NETWORKS):
                raise ValueError(f"the lab imports only from lab addresses, not {host}")
            with urllib.request.urlopen(url, timeout=10) as response:
                while response.read(1 << 20):
                    pass
            self.clock[key] = True
        except Exception as error:  # noqa: BLE001 - reported in the DataVolume's conditions
            self.clock[key] = str(error)

    # --------------------------------------------------------------------------------------- VMs

    def virtual_machines(self, cluster):
        resource, vms = self.each(cluster, "kubevirt.io", "virtualmachines")
        vmi_resource = cluster.registry.find("kubevirt.io", "v1", "virtualmachineinstances")
        for vm in vms:
            meta, spec = vm["metadata"], vm.get("spec") or {}
            key = (meta["namespace"], meta["name"])
            strategy = spec.get("runStrategy") or ("Always" if spec.get("running") else "Halted")
            wanted = strategy in ("Always", "RerunOnFailure", "Once")
            vmi = cluster.objects.get(("kubevirt.io", "virtualmachineinstances"), {}).get(key)
            blocker = self.vm_blocker(cluster, vm)
            if wanted and vmi is None and blocker is None and vmi_resource is not None:
                template = spec.get("template") or {}
                vmi = cluster.put_system(vmi_resource, {
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": (template.get("metadata") or {}).get("labels", {}),
                                 "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": meta["name"], "uid": meta["uid"], "controller": True}]},
                    "spec": template.get("spec", {})}, manager="virt-controller")
            elif not wanted and vmi is not None:
                cluster.delete(vmi_resource, meta["namespace"], meta["name"])
                vmi = None
            if vmi is not None:
                node = self.place_vmi(cluster, vmi)
                if node is False:  # its node is gone: the instance failed with it; the VM makes a new one
                    cluster.delete(vmi_resource, meta["namespace"], meta["name"])
                    continue
                running = node is not None and self.since(vmi, "created") >= VMI_SECONDS
                cluster.set_status(vmi_resource, vmi, keep_times(vmi.get("status"), {
                    **({"nodeName": node} if node else {}),
                    "phase": "Running" if running else "Scheduling",
                    "conditions": [condition("Ready", "True" if running else "False")],
                    "interfaces": [{"name": n.get("name"), "interfaceName": f"eth{i}"} for i, n in enumerate((vmi["spec"].get("networks") or []))]}))
                printable, ready = ("Running", True) if running else ("Starting", False)
            else:
                printable, ready = (blocker or "Stopped", False) if not wanted or blocker else ("Starting", False)
            status = {"printableStatus": printable, "ready": ready, "created": vmi is not None,
                      "conditions": [condition("Ready", "True" if ready else "False")]}
            cluster.set_status(resource, vm, keep_times(vm.get("status"), status))

    def garbage(self, cluster):
        """The garbage collector (and KubeVirt's VM finalizer), for what Parvester deletes: a VMI whose
        VirtualMachine is gone goes too, and a PVC whose DataVolume is gone."""
        for (group, plural), (owner_group, owner_plural) in ((("kubevirt.io", "virtualmachineinstances"), ("kubevirt.io", "virtualmachines")),
                                                              (("", "persistentvolumeclaims"), ("cdi.kubevirt.io", "datavolumes"))):
            resource, objects = self.each(cluster, group, plural)
            owners = {o["metadata"]["uid"] for o in cluster.objects.get((owner_group, owner_plural), {}).values()}
            for obj in objects:
                refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller") and r.get("uid")]
                if refs and all(r["uid"] not in owners for r in refs) and resource is not None:
                    cluster.remove(resource, (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]), obj)

    def place_vmi(self, cluster, vmi):
        """virt-controller's scheduling, through its virt-launcher pod: a Ready, schedulable node with the
        fewest instances, kept for the instance's life. None while none is free; False once its node is gone."""
        key = (vmi["metadata"]["uid"], "node")
        _, nodes = self.each(cluster, "", "nodes")
        names = {n["metadata"]["name"] for n in nodes}
        if key in self.clock:
            return self.clock[key] if self.clock[key] in names else False
        free = self.schedulable(cluster)
        if not free:
            return None
        load = {n: 0 for n in free}
        for other in cluster.objects.get(("kubevirt.io", "virtualmachineinstances"), {}).values():
            placed = self.clock.get((other["metadata"]["uid"], "node"))
            if placed in load:
                load[placed] += 1
        self.clock[key] = min(free, key=lambda n: (load[n], n))
        return self.clock[key]

    def schedulable(self, cluster):
        """Ready nodes that take new pods (not cordoned, not being deleted), by name."""
        _, nodes = self.each(cluster, "", "nodes")
        return sorted(n["metadata"]["name"] for n in nodes if has_condition(n, "Ready") and not (n.get("spec") or {}).get("unschedulable")
                      and not n["metadata"].get("deletionTimestamp"))

    # --------------------------------------------------------------------------------------- pods

    def pods(self, cluster):
        """Pods where the real controllers would put them, so that drains have something to evict: each
        Deployment's replicas (owned by its ReplicaSet) on schedulable nodes, the fewest first; one pod per
        Ready node for each DaemonSet (they tolerate cordons); a virt-launcher pod beside each placed VMI.
        An evicted pod comes back on another node; pods of a deleted Node are collected (the pod GC)."""
        resource = cluster.registry.find("", "v1", "pods")
        if resource is None:
            return
        bucket = cluster.bucket(resource)
        _, nodes = self.each(cluster, "", "nodes")
        existing = {n["metadata"]["name"] for n in nodes}
        ready = sorted(n["metadata"]["name"] for n in nodes if has_condition(n, "Ready") and not n["metadata"].get("deletionTimestamp"))
        free = self.schedulable(cluster)
        wanted = {}  # (namespace, name) -> (node or None to place, labels, owner reference)
        for plural, kind in (("deployments", "ReplicaSet"), ("daemonsets", "DaemonSet")):
            _, workloads = self.each(cluster, "apps", plural)
            for w in workloads:
                meta, spec = w["metadata"], w.get("spec") or {}
                labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
                if kind == "ReplicaSet":
                    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{meta['name']}-{meta['uid'][:10]}", "controller": True}
                    for i in range(spec.get("replicas", 1)):
                        wanted[(meta["namespace"], f"{owner['name']}-{i}")] = (None, labels, owner)
                else:
                    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": meta["name"], "uid": meta["uid"], "controller": True}
                    for node in ready:
                        wanted[(meta["namespace"], f"{meta['name']}-{node}")] = (node, labels, owner)
        for vmi in cluster.objects.get(("kubevirt.io", "virtualmachineinstances"), {}).values():
            node = (vmi.get("status") or {}).get("nodeName")
            if node:
                meta = vmi["metadata"]
                owner = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": meta["name"], "uid": meta["uid"], "controller": True}
                wanted[(meta["namespace"], f"virt-launcher-{meta['name']}-{meta['uid'][:5]}")] = (
                    node, {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": meta["name"]}, owner)
        for key, pod in list(bucket.items()):
            node = (pod.get("spec") or {}).get("nodeName")
            ours = (pod["metadata"].get("annotations") or {}).get("lab.parvester.io/pod") == "controller"
            if (node and node not in existing) or (ours and key not in wanted):
                cluster.remove(resource, key, pod)
        load = {n: 0 for n in free}
        for pod in bucket.values():
            node = (pod.get("spec") or {}).get("nodeName")
            if node in load:
                load[node] += 1
        for (namespace, name), (node, labels, owner) in wanted.items():
            if (namespace, name) in bucket:
                continue
            if node is None:
                if not free:
                    continue
                node = min(free, key=lambda n: (load[n], n))
                load[node] += 1
            cluster.put_system(resource, {
                "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner],
                             "annotations": {"lab.parvester.io/pod": "controller"}},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]},
                "status": {"phase": "Running", "conditions": [condition("Ready", "True")]}})

    def vm_blocker(self, cluster, vm):
        """What keeps a VM from starting, as KubeVirt's printable status names it, or None."""
        namespace = vm["metadata"]["namespace"]
        template_spec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
        for volume in template_spec.get("volumes") or []:
            claim = (volume.get("dataVolume") or {}).get("name") or (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                dv = cluster.objects.get(("cdi.kubevirt.io", "datavolumes"), {}).get((namespace, claim))
                pvc = cluster.objects.get(("", "persistentvolumeclaims"), {}).get((namespace, claim))
                if pvc is None:
                    return "WaitingForVolumeBinding"
                if dv is not None and (dv.get("status") or {}).get("phase") != "Succeeded":
                    return "Provisioning"
        for network in template_spec.get("networks") or []:
            name = (network.get("multus") or {}).get("networkName")
            if name:
                ns, _, nad = name.rpartition("/")
                if (ns or namespace, nad) not in cluster.objects.get(("k8s.cni.cncf.io", "network-attachment-definitions"), {}):
                    return "ErrorUnschedulable"
        return None
