"""The SQL Server and Oracle catalog views WhaleFall reads, with their columns, as the vendors
document them (Microsoft Learn "System catalog views" pages; Oracle Database Reference, 19c-23ai).
Kept as data so that a column the adapters name and the documentation does not have fails a test.
Names are lower case; a CDB_* view has its DBA_* twin's columns plus CON_ID.
"""

from __future__ import annotations


def cols(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SERVER_PRINCIPALS = cols(
    "name principal_id sid type type_desc is_disabled create_date modify_date default_database_name "
    "default_language_name credential_id owning_principal_id is_fixed_role"
)
_PERMISSIONS = cols(
    "class class_desc major_id minor_id grantee_principal_id grantor_principal_id type permission_name "
    "state state_desc"
)
_FILES = cols(
    "file_id file_guid type type_desc data_space_id name physical_name state state_desc size max_size "
    "growth is_media_read_only is_read_only is_sparse is_percent_growth is_name_reserved "
    "is_persistent_log_buffer create_lsn drop_lsn read_only_lsn read_write_lsn differential_base_lsn "
    "differential_base_guid differential_base_time redo_start_lsn redo_start_fork_guid redo_target_lsn "
    "redo_target_fork_guid backup_lsn"
)

SQLSERVER: dict[str, frozenset[str]] = {
    # sys.server_principals; sys.sql_logins inherits its columns and adds the password policy ones.
    "sys.server_principals": _SERVER_PRINCIPALS,
    "sys.sql_logins": _SERVER_PRINCIPALS | cols("is_policy_checked is_expiration_checked password_hash"),
    "sys.server_role_members": cols("role_principal_id member_principal_id"),
    "sys.server_permissions": _PERMISSIONS,
    "sys.endpoints": cols(
        "name endpoint_id principal_id protocol protocol_desc type type_desc state state_desc is_admin_endpoint"
    ),
    "sys.availability_replicas": cols(
        "replica_id group_id replica_metadata_id replica_server_name owner_sid endpoint_url availability_mode "
        "availability_mode_desc failover_mode failover_mode_desc session_timeout primary_role_allow_connections "
        "primary_role_allow_connections_desc secondary_role_allow_connections "
        "secondary_role_allow_connections_desc create_date modify_date backup_priority read_only_routing_url "
        "seeding_mode seeding_mode_desc read_write_routing_url"
    ),
    "sys.availability_groups": cols(
        "group_id name resource_id resource_group_id failure_condition_level health_check_timeout "
        "automated_backup_preference automated_backup_preference_desc version basic_features dtc_support "
        "db_failover is_distributed cluster_type cluster_type_desc required_synchronized_secondaries_to_commit "
        "sequence_number is_contained"
    ),
    "sys.databases": cols(
        "name database_id source_database_id owner_sid create_date compatibility_level collation_name "
        "user_access user_access_desc is_read_only is_auto_close_on is_auto_shrink_on state state_desc "
        "is_in_standby is_cleanly_shutdown recovery_model recovery_model_desc containment containment_desc "
        "is_encrypted is_query_store_on"
    ),
    "sys.database_principals": cols(
        "name principal_id type type_desc default_schema_name create_date modify_date owning_principal_id sid "
        "is_fixed_role authentication_type authentication_type_desc default_language_name "
        "default_language_lcid allow_encrypted_value_modifications"
    ),
    "sys.database_role_members": cols("role_principal_id member_principal_id"),
    "sys.database_permissions": _PERMISSIONS,
    "sys.schemas": cols("name schema_id principal_id"),
    "sys.all_objects": cols(
        "name object_id principal_id schema_id parent_object_id type type_desc create_date modify_date "
        "is_ms_shipped is_published is_schema_published"
    ),
    "sys.all_columns": cols(
        "object_id name column_id system_type_id user_type_id max_length precision scale collation_name "
        "is_nullable is_ansi_padded is_rowguidcol is_identity is_computed is_filestream is_replicated"
    ),
    "sys.certificates": cols(
        "name certificate_id principal_id pvt_key_encryption_type pvt_key_encryption_type_desc "
        "is_active_for_begin_dialog issuer_name cert_serial_number sid string_sid subject expiry_date "
        "start_date thumbprint attested_by pvt_key_last_backup_date key_length"
    ),
    "sys.master_files": _FILES | cols("database_id"),
    "sys.database_files": _FILES,
}

_USERS = cols(
    "username user_id password account_status lock_date expiry_date default_tablespace temporary_tablespace "
    "local_temp_tablespace created profile initial_rsrc_consumer_group external_name password_versions "
    "editions_enabled authentication_type proxy_only_connect common last_login oracle_maintained inherited "
    "default_collation implicit all_shard external_shard password_change_date mandatory_profile_violation"
)
_DATA_FILES = cols(
    "file_name file_id tablespace_name bytes blocks status relative_fno autoextensible maxbytes maxblocks "
    "increment_by user_bytes user_blocks"
)
ORACLE_DBA: dict[str, frozenset[str]] = {
    "users": _USERS,
    "roles": cols(
        "role role_id password_required authentication_type common oracle_maintained inherited implicit "
        "external_name"
    ),
    "role_privs": cols("grantee granted_role admin_option delegate_option default_role common inherited"),
    "sys_privs": cols("grantee privilege admin_option common inherited"),
    "schema_privs": cols("grantee privilege schema admin_option common inherited"),  # 23ai
    "tab_privs": cols("grantee owner table_name grantor privilege grantable hierarchy common type inherited"),
    "col_privs": cols("grantee owner table_name column_name grantor privilege grantable common inherited"),
    "ts_quotas": cols("tablespace_name username bytes max_bytes blocks max_blocks dropped"),
    "tablespaces": cols(
        "tablespace_name block_size initial_extent next_extent min_extents max_extents max_size pct_increase "
        "min_extlen status contents logging force_logging extent_management allocation_type plugged_in "
        "segment_space_management def_tab_compression retention bigfile predicate_evaluation encrypted "
        "compress_for def_inmemory shared"
    ),
    "data_files": _DATA_FILES | cols("online_status lost_write_protect"),
    "temp_files": _DATA_FILES | cols("shared inst_id"),
    "free_space": cols("tablespace_name file_id block_id bytes blocks relative_fno"),
}
ORACLE: dict[str, frozenset[str]] = {
    **{f"dba_{view}": columns for view, columns in ORACLE_DBA.items()},
    **{f"cdb_{view}": columns | {"con_id"} for view, columns in ORACLE_DBA.items()},
    "v$containers": cols(
        "con_id dbid con_uid guid name open_mode restricted open_time create_scn total_size block_size "
        "recovery_status snapshot_parent_con_id application_root application_pdb application_seed "
        "application_root_con_id application_root_clone proxy_pdb local_undo creation_time pdb_count "
        "member_cdb"
    ),
    "dictionary": cols("table_name comments"),
    "dual": cols("dummy"),
    "product_component_version": cols("product version version_full status"),
}
