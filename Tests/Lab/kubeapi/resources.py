"""The API resources a cluster serves: the built-in ones Parvester touches, plus CRDs once Established.

Discovery documents (/api, /apis, /apis/G/V and the aggregated v2 form) are all rendered from this one
table, so a resource is either served everywhere or nowhere. Their shape copies kube-apiserver v1.36's
(../shared/kube-conformance/discovery_*.json): built-in resources name no group or version in an
aggregated responseKind, /api/v1's APIResourceList carries no apiVersion, scale subresources answer
autoscaling/v1 Scale, namespaces cannot be deleted by collection.
"""
from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple = ()
    has_status: bool = True
    verbs: tuple = tuple(ALL_VERBS)
    # Extra subresources with their verbs (KubeVirt's start/stop, ...). status is implied by has_status.
    subresources: tuple = ()
    # The CRD (or API service) that brought this resource; empty for built-ins.
    origin: str = ""
    categories: tuple = ()
    # A /scale subresource (autoscaling/v1 Scale), as workloads have.
    has_scale: bool = False

    @property
    def group_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self):
        """Objects are stored per group and plural, whatever version they were written in."""
        return (self.group, self.plural)

    def singular_name(self):
        return self.singular or self.kind.lower()


def _core(plural, kind, namespaced, short=(), status=True, **extra):
    return Resource("", "v1", plural, kind, namespaced, short_names=tuple(short), has_status=status, **extra)


def _r(group, version, plural, kind, namespaced, short=(), status=True, **extra):
    return Resource(group, version, plural, kind, namespaced, short_names=tuple(short), has_status=status, **extra)


ALL = ("all",)


BUILTIN = [
    _core("namespaces", "Namespace", False, ["ns"], verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
          subresources=(("finalize", ["update"]),)),
    _core("nodes", "Node", False, ["no"]),
    _core("configmaps", "ConfigMap", True, ["cm"], status=False),
    _core("secrets", "Secret", True, status=False),
    _core("services", "Service", True, ["svc"], categories=ALL),
    _core("serviceaccounts", "ServiceAccount", True, ["sa"], status=False),
    _core("pods", "Pod", True, ["po"], categories=ALL, subresources=(("eviction", ["create"]),)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]),
    _core("persistentvolumes", "PersistentVolume", False, ["pv"]),
    _core("endpoints", "Endpoints", True, ["ep"], status=False),
    _core("events", "Event", True, ["ev"], status=False),
    _r("apps", "v1", "deployments", "Deployment", True, ["deploy"], categories=ALL, has_scale=True),
    _r("apps", "v1", "daemonsets", "DaemonSet", True, ["ds"], categories=ALL),
    _r("apps", "v1", "statefulsets", "StatefulSet", True, ["sts"], categories=ALL, has_scale=True),
    _r("apps", "v1", "replicasets", "ReplicaSet", True, ["rs"], categories=ALL, has_scale=True),
    _r("batch", "v1", "jobs", "Job", True, categories=ALL),
    _r("networking.k8s.io", "v1", "ingresses", "Ingress", True, ["ing"]),
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"]),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role", True, status=False),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, status=False),
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, status=False),
    _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, status=False),
    _r("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ["sc"], status=False),
    _r("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ["pc"], status=False),
    _r("coordination.k8s.io", "v1", "leases", "Lease", True, status=False),
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ["crd", "crds"],
       categories=("api-extensions",)),
    _r("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False, status=False),
    _r("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False, status=False),
    _r("apiregistration.k8s.io", "v1", "apiservices", "APIService", False),
]


@dataclass
class Registry:
    """What one cluster serves right now. Built-ins are fixed; CRDs come and go."""
    extra: list = field(default_factory=list)

    def all(self):
        return BUILTIN + self.extra

    def serves_group(self, group):
        return group == "" or any(r.group == group for r in self.all())

    def builtin_group(self, group):
        """A group kube-apiserver itself serves: an unknown resource there is a JSON 404. Groups of
        CRDs are served by the apiextensions handler, which answers `404 page not found` instead."""
        return group == "" or any(r.group == group for r in BUILTIN)

    def find(self, group, version, plural):
        for resource in self.all():
            if resource.group == group and resource.version == version and resource.plural == plural:
                return resource
        return None

    def by_kind(self, group, version, kind):
        for resource in self.all():
            if resource.group == group and resource.version == version and resource.kind == kind:
                return resource
        return None

    def replace_origin(self, origin, resources):
        """Serves exactly `resources` for `origin` (a CRD name): added, changed or removed together."""
        self.extra = [r for r in self.extra if r.origin != origin] + list(resources)

    def groups(self):
        """{group: [versions in preference order]} for the named groups (not the core group)."""
        result = {}
        for resource in self.all():
            if resource.group:
                versions = result.setdefault(resource.group, [])
                if resource.version not in versions:
                    versions.append(resource.version)
        for group, versions in result.items():
            versions.sort(key=_version_priority, reverse=True)
        return result


def _version_priority(version):
    """Kubernetes orders versions GA > beta > alpha, then by number: v1 > v1beta1 > v1alpha3."""
    import re
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (-1, 0, 0)
    major, stage, minor = match.groups()
    return ({None: 2, "beta": 1, "alpha": 0}[stage], int(major), int(minor or 0))


# ------------------------------------------------------------------------------------ documents

def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}


def api_group_list(registry):
    groups = []
    for name, versions in sorted(registry.groups().items()):
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(registry, group, version):
    resources = sorted((r for r in registry.all() if r.group == group and r.version == version), key=lambda r: r.plural)
    if not resources:
        return None
    entries = []
    for r in resources:
        entry = {"name": r.plural, "singularName": r.singular_name(), "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for sub, verbs, kind in _subresources(r):
            sub_entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced}
            if kind:
                sub_entry.update({"group": kind[0], "version": kind[1]})
            sub_entry.update({"kind": kind[2] if kind else r.kind, "verbs": list(verbs)})
            entries.append(sub_entry)
    document = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": resources[0].group_version, "resources": entries}
    if not group:
        del document["apiVersion"]  # as kube-apiserver answers /api/v1
    return document


def _subresources(resource):
    """(name, verbs, (group, version, kind) of the answer or None for the resource's own kind), by name."""
    subs = [(sub, verbs, None) for sub, verbs in resource.subresources]
    if resource.has_status:
        subs.append(("status", ["get", "patch", "update"], None))
    if resource.has_scale:
        subs.append(("scale", ["get", "patch", "update"], ("autoscaling", "v1", "Scale")))
    return sorted(subs)


AGGREGATED_MEDIA_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def aggregated(registry, legacy):
    """The APIGroupDiscoveryList (apidiscovery.k8s.io/v2) served at /api (legacy) or /apis."""
    groups = {"": ["v1"]} if legacy else registry.groups()
    items = []
    for name in ([""] if legacy else sorted(groups)):
        versions = []
        for version in groups[name]:
            resources = []
            for r in sorted(registry.all(), key=lambda r: r.plural):
                if r.group != name or r.version != version:
                    continue
                # kube-apiserver leaves group and version empty for built-ins; CRDs name theirs
                kind = {"group": r.group if r.origin else "", "version": r.version if r.origin else "", "kind": r.kind}
                entry = {"resource": r.plural, "responseKind": kind, "scope": "Namespaced" if r.namespaced else "Cluster",
                         "singularResource": r.singular_name(), "verbs": list(r.verbs)}
                if r.short_names:
                    entry["shortNames"] = list(r.short_names)
                if r.categories:
                    entry["categories"] = list(r.categories)
                subs = [{"subresource": sub, "responseKind": {"group": k[0], "version": k[1], "kind": k[2]} if k else kind,
                         "verbs": list(verbs)} for sub, verbs, k in _subresources(r)]
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            versions.append({"version": version, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": name} if name else {}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
